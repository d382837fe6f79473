"""A saved run opened for a later job: its best model and the split to run it on
(`open_run`), under the backend it was trained with (`rerun_in_run_backend`).

`cxr evaluate` and `cxr saliency` both start here, so they load, check and rerun a run
the same way.
"""

import dataclasses
import os
import sys

import keras

from cxr.data import datasets, label_space
from cxr.model import saved
from cxr.pipeline import label_match, wiring
from cxr.tracking.rundir import RunDir


@dataclasses.dataclass(frozen=True)
class OpenedRun:
    """A saved run's best model and the dataset it is to be evaluated on (`open_run`).

    `model_labels` are the names of the model's outputs: its training dataset's labels.
    """

    config: dict
    model: object
    builder: object
    dataset: str
    split: str
    val_split: str
    model_labels: tuple = ()


def open_run(
    run: RunDir, *, dataset=None, split=None, val_split=None, data_dir=None, manual_dir=None
):
    """Loads a run's best model and the split to evaluate it on; checks both, writes nothing.

    Args:
        run: the run directory.
        dataset: `<builder>/<config>` of any registered dataset; None for the run's own.
        split: None for the run's test split.
        val_split: None for the run's validation split on its own dataset, else "validation".
        data_dir, manual_dir: where TFDS data and the release's files are; None for the
            run's (its manual dir only for its own builder).

    Raises:
        UserError: a missing split, a model whose outputs are not its dataset's labels,
            or a dataset sharing no finding with the model (`label_match`).
    """
    config = run.config()
    d = config["data"]
    own_data = dataset in (None, wiring.dataset_of(config))
    dataset = dataset or wiring.dataset_of(config)
    split = split or d["test_split"]
    val_split = val_split or (d["val_split"] if own_data else "validation")
    model = saved.load_model(run.model_file)
    # The run's manual dir holds its own release's files: another builder's are elsewhere.
    same_builder = dataset.split("/")[0] == wiring.dataset_of(config).split("/")[0]
    builder = datasets.prepare(
        dataset,
        data_dir or d["data_dir"],
        manual_dir or (d["manual_dir"] if same_builder else None),
        policy=wiring.label_policy(config),
    )
    for name in (split, val_split):
        datasets.check_split(builder, name)
    model_labels = label_space.entry(wiring.dataset_of(config)).label_names
    if model.output.shape[-1] != len(model_labels):
        saved.load_model(run.model_file, num_labels=len(model_labels))  # its error
    label_match.match(model_labels, datasets.label_names(builder.info), dataset=dataset)
    return OpenedRun(config, model, builder, dataset, split, val_split, model_labels)


def rerun_in_run_backend(run: RunDir, command, argv):
    """Runs `cxr <command> <argv>` again under the run's saved backend, when that is not
    this one and $KERAS_BACKEND does not choose; otherwise returns.

    The run's own backend reproduces its numbers exactly; the other differs in float32
    rounding. The backend is fixed at import, hence a fresh process (`os.execve`, which
    does not return).

    Args:
        run: The saved run; its config's "backend" (absent in older runs: no rerun).
        command: The `cxr` command, e.g. "evaluate".
        argv: The command's arguments; None for this process's own.
    """
    wanted = run.config().get("backend")
    if wanted and wanted != keras.backend.backend() and "KERAS_BACKEND" not in os.environ:
        argv = sys.argv[1:] if argv is None else argv
        env = {**os.environ, "KERAS_BACKEND": wanted}
        os.execve(sys.executable, [sys.executable, "-m", "cxr", command, *argv], env)
