"""A saved run opened for a later job: its best model and the split to run it on
(`open_run`), under the backend it was trained with (`rerun_in_run_backend`).

`cxr evaluate` and `cxr saliency` both start here, so they load, check and rerun a run
the same way.
"""

import dataclasses
import os
import sys

import keras

from cxr.data import datasets
from cxr.model import saved
from cxr.tracking.rundir import RunDir


@dataclasses.dataclass(frozen=True)
class OpenedRun:
    """A saved run's best model and the dataset it is to be evaluated on (`open_run`)."""

    config: dict
    model: object
    builder: object
    dataset: str
    split: str
    val_split: str


def open_run(
    run: RunDir, *, dataset=None, split=None, val_split=None, data_dir=None, manual_dir=None
):
    """Loads a run's best model and the split to evaluate it on; checks both, writes nothing.

    Args:
        run: the run directory.
        dataset: `cxr14_subset/<config>`; None for the run's own.
        split: None for the run's test split.
        val_split: None for the run's validation split on its own dataset, else "validation".
        data_dir, manual_dir: where TFDS data and NIH files are; None for the run's.

    Raises:
        UserError: a missing split, or a dataset whose labels the model does not predict.
    """
    config = run.config()
    d = config["data"]
    own_data = dataset in (None, d["name"])
    dataset = dataset or d["name"]
    split = split or d["test_split"]
    val_split = val_split or (d["val_split"] if own_data else "validation")
    model = saved.load_model(run.model_file)
    builder = datasets.prepare(dataset, data_dir or d["data_dir"], manual_dir or d["manual_dir"])
    for name in (split, val_split):
        datasets.check_split(builder, name)
    label_names = datasets.label_names(builder.info)
    if model.output.shape[-1] != len(label_names):
        saved.load_model(run.model_file, num_labels=len(label_names))  # its error
    return OpenedRun(config, model, builder, dataset, split, val_split)


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
