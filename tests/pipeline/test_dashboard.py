"""The W&B review view: every panel names a key that an offline run logged, read back
from the run's own files (the Saliency section's: test_saliency_wandb); the spec is
written offline and builds a workspace."""

import contextlib
import io
import json

import keras
import numpy as np
import pytest
import wandb

from cxr.evaluation import evaluators
from cxr.pipeline import dashboard
from cxr.tracking import metric_keys, wandb_logging, writer
from cxr.tracking.rundir import RunDir
from cxr.train import callbacks
from cxr_tfds.labels import LABELS
from tests.helpers.dashboard_spec import assert_logged, the_runs_own
from tests.helpers.made_up_predictions import SIZE, fake_data, predictions, validation
from tests.helpers.tiny_keras import tiny_data, tiny_model
from tests.helpers.wandb_records import logged_items

TEST_SPLIT = "test[:50%]"  # logged under "test/"


def evaluate(run, eval_dir):
    """Every evaluator of a run on made-up predictions and a hot square, written to W&B."""
    gray, labels, boxes, box_labels = fake_data()
    preds = predictions(
        gray, labels, boxes, box_labels, np.random.default_rng(1).random(labels.shape)
    )
    hot = np.zeros((SIZE, SIZE), dtype=np.float32)
    hot[10:30, 20:40] = 1.0
    chosen = evaluators.default(num_bootstrap=20, seed=0, gallery_per_kind=1)
    for evaluator in chosen:
        for index, label in evaluator.pairs(preds):
            evaluator.add(index=index, label=label, gray=gray[index], heatmap=hot)
    results = [e.result(preds=preds, val=validation(preds), eval_dir=eval_dir) for e in chosen]
    writer.write(results, wandb_run=run, prefix=writer.split_prefix(TEST_SPLIT))


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory):
    """An offline run that logs what an experiment logs (two phases, every evaluator),
    and `make dashboard` on it; the run's items are read back from its .wandb file."""
    tmp = tmp_path_factory.mktemp("dashboard")
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as env, contextlib.redirect_stdout(printed):
        env.setenv("WANDB_MODE", "offline")
        for var in ("WANDB_DIR", "WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR"):
            env.setenv(var, str(tmp / var.lower()))
        data = {"name": "cxr14_subset/synthetic", "test_split": TEST_SPLIT}
        # A run saved before `eval.evaluators` (its default evaluators, their sections).
        old_eval = {"num_bootstrap": 20, "gallery_per_kind": 1}
        config = {
            "name": "quick",
            "seed": 0,
            "data": data,
            "eval": old_eval,
            "wandb": {"project": "t"},
        }
        run_dir = RunDir.locate(tmp / "runs", "quick", None).create(config)
        run = wandb_logging.init_wandb(
            config=config, name="quick", run_dir=run_dir.path, run_id=run_dir.name
        )
        x, y = tiny_data(32)
        for phase, epochs in (("head", 2), ("finetune", 1)):
            logs = [log(phase) for log in wandb_logging.epoch_logs(run_dir, run)]
            # As training does: the validation loss is the training loss on validation.
            loss = keras.losses.BinaryCrossentropy(from_logits=True)
            validate = callbacks.ValidationAuroc(x, y, LABELS, loss=loss)
            tiny_model().fit(x, y, epochs=epochs, verbose=0, callbacks=[validate, *logs])
        evaluate(run, run_dir.evaluation())
        run.finish()
        wandb.teardown()
        spec_file = dashboard.dashboard(run=run_dir)
    return dict(
        spec=json.loads(spec_file.read_text()),
        spec_file=spec_file,
        items=logged_items(run_dir.path),
        run_dir=run_dir,
        printed=printed.getvalue(),
    )


def test_every_panel_names_a_key_the_offline_run_logged(reviewed):
    spec = reviewed["spec"]
    assert [s["name"] for s in spec["sections"]] == [
        "Validation curves",
        "Calibration (15 bins)",
        "Test AUROC",
        "Grad-CAM gallery",
        "Localization",
        "Subgroups",
        dashboard.SALIENCY_SECTION,  # logged by the run's saliency job, another W&B run
    ]
    run_id = reviewed["run_dir"].name
    saliency_job = f"quick/{run_id}/saliency cxr14_subset/synthetic {TEST_SPLIT}"
    assert spec["filter"] == [["ID", run_id], ["Name", saliency_job]]
    assert_logged(the_runs_own(spec), reviewed["items"])
    assert isinstance(reviewed["items"]["history"][spec["x_axis"]], int)
    best = max(r[metric_keys.MONITOR] for r in reviewed["run_dir"].read_metrics())
    assert reviewed["items"]["summary"][metric_keys.MONITOR] == {"max": pytest.approx(best)}


def test_offline_the_spec_is_written_and_the_command_printed(reviewed):
    assert reviewed["spec_file"] == reviewed["run_dir"].wandb_dir / dashboard.SPEC
    printed = reviewed["printed"]
    assert f"W&B view spec: {reviewed['spec_file']}" in printed
    assert f"wandb sync {reviewed['run_dir'].wandb_dir}/offline-run-*" in printed
    assert f"make dashboard RUN={reviewed['run_dir'].path}" in printed


def test_a_groups_spec_names_the_same_keys(reviewed, monkeypatch, capsys):
    monkeypatch.setenv("WANDB_MODE", "offline")
    runs = reviewed["run_dir"].path.parents[1]
    spec_file = dashboard.dashboard(group="quick", runs_dir=runs)
    spec = json.loads(spec_file.read_text())
    assert spec_file == runs / "quick" / dashboard.SPEC and spec["filter"] == [["Group", "quick"]]
    assert dashboard.keys(spec) == dashboard.keys(reviewed["spec"])
    assert "make dashboard GROUP=quick" in capsys.readouterr().out


def test_the_spec_builds_a_workspace_offline(reviewed):
    pytest.importorskip("wandb_workspaces")
    spec = reviewed["spec"]
    workspace = dashboard.workspace(spec, entity="someone", project="t")
    view = workspace._to_model()  # what `save` uploads; no network needed to build it
    assert view is not None
    assert [s.name for s in workspace.sections] == [s["name"] for s in spec["sections"]]
    assert [len(s.panels) for s in workspace.sections] == [
        len(s["panels"]) for s in spec["sections"]
    ]
    assert workspace.settings.x_axis == wandb_logging.EPOCH_AXIS
    # The run, or its saliency job: W&B's run ID or display name, either one.
    (run_id,), (job,) = ([v for f, v in spec["filter"] if f == x] for x in ("ID", "Name"))
    shown = view.model_dump(by_alias=True)["spec"]["section"]["runSets"][0]["filters"]
    assert [(f["key"]["name"], f["op"], f["value"]) for f in shown["filters"]] == [
        ("name", "=", run_id),  # W&B's own name of the ID
        ("displayName", "=", job),
    ]
    assert shown["filters"][1]["connector"] == "OR"


def test_no_run_of_a_group_is_a_one_line_error(tmp_path):
    with pytest.raises(dashboard.UserError, match="no run of 'nothing'"):
        dashboard.dashboard(group="nothing", runs_dir=tmp_path)
