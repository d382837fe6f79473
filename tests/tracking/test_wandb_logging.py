"""Run directories, metrics.jsonl and W&B logging, checked in W&B's offline files."""

import contextlib
import inspect
import io
import json
import math
import os
import pathlib
import re
import subprocess
import sys

import keras
import pytest
import wandb

from cxr.errors import UserError
from cxr.stats.auroc import macro_auroc
from cxr.tracking import wandb_logging, writer
from cxr.tracking.disabled_run import DisabledRun
from cxr.tracking.metric_keys import MONITOR
from cxr.tracking.rundir import RunDir
from cxr_tfds.labels import LABELS
from tests.helpers.backends import rerun_under_the_other_backend
from tests.helpers.tiny_keras import tiny_data, tiny_model
from tests.helpers.wandb_records import (
    assert_self_contained,
    items_of,
    offline_wandb,
    read_wandb_records,
)


class FakeAuroc(keras.callbacks.Callback):
    """Adds validation AUROCs to the epoch logs, as the trainer's callback will."""

    def __init__(self):
        super().__init__()
        self.logged = []

    def on_epoch_end(self, epoch, logs=None):
        aurocs = {label: 0.5 + 0.01 * i + 0.1 * epoch for i, label in enumerate(LABELS)}
        aurocs["Hernia"] = float("nan")  # no positives in a small validation split
        logs["val/macro_auroc"] = macro_auroc(aurocs)
        logs.update({f"val/auroc/{label}": value for label, value in aurocs.items()})
        self.logged.append(dict(logs))


def test_run_dir_owns_its_files(tmp_path):
    config = {"lr": 0.1, "labels": LABELS, "data_dir": tmp_path}
    run = RunDir.locate(tmp_path, "quick", None).create(config)
    assert run.path.parent == tmp_path / "quick" and run.checkpoints_dir.is_dir()
    saved = json.loads(run.config_file.read_text())
    assert saved == {"lr": 0.1, "labels": list(LABELS), "data_dir": str(tmp_path)}
    assert RunDir.open(run.path).config() == saved
    assert RunDir.locate(tmp_path, "quick", None).path != run.path
    with pytest.raises(FileExistsError):
        RunDir.locate(tmp_path, "quick", run.name).create(config)
    with pytest.raises(UserError, match=f"{tmp_path} is not a run directory"):
        RunDir.open(tmp_path)
    # The run's own evaluation and re-evaluations never share a folder.
    own, other = run.evaluation(), run.evaluation("cxr14_subset/synthetic", "test[:16]")
    assert own.path == run.path / "eval"
    assert other.path == run.path / "evaluations" / "cxr14_subset_synthetic" / "test_16"


def test_state_and_metrics_survive_a_repeated_epoch(tmp_path):
    run = RunDir.locate(tmp_path, "quick", "r").create({})
    assert run.load_state() is None and run.read_metrics() == []
    for phase, epoch in [("head", 1), ("head", 2), ("head", 3), ("finetune", 1)]:
        run.append_metrics({"phase": phase, "epoch": epoch})
    run.save_state({"phase": "head", "epoch": 2})
    run.truncate_metrics("head", 2)  # head epoch 3 was logged, never checkpointed
    assert [(r["phase"], r["epoch"]) for r in run.read_metrics()] == [
        ("head", 1),
        ("head", 2),
        ("finetune", 1),
    ]
    assert run.load_state() == {"phase": "head", "epoch": 2}
    assert not list(run.checkpoints_dir.glob(".*tmp*"))  # atomic writes leave no temp file


def test_epoch_log_writes_every_epoch_as_it_ends(tmp_path):
    run = RunDir.locate(tmp_path, "quick", "r").create({})
    path = run.metrics_file
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    model = tiny_model(schedule)
    lines_seen = []
    count_lines = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: lines_seen.append(len(path.read_text().splitlines()))
    )
    fake = FakeAuroc()
    x, y = tiny_data()
    history = model.fit(
        x,
        y,
        batch_size=8,
        epochs=2,
        verbose=0,
        callbacks=[fake, wandb_logging.EpochLog(run.append_metrics, finite=True), count_lines],
    )

    assert lines_seen == [1, 2]  # each line is on disk when its epoch ends
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for epoch, record in enumerate(records):
        assert record["epoch"] == record[wandb_logging.EPOCH_AXIS] == epoch + 1
        assert record["loss"] == pytest.approx(history.history["loss"][epoch])
        # 2 steps per epoch: the schedule's value after this epoch's last step.
        assert record["learning_rate"] == pytest.approx(float(schedule(2 * (epoch + 1))))
        assert record["val/auroc/Hernia"] is None  # NaN is written as null
        assert record["val/auroc/Mass"] == pytest.approx(fake.logged[epoch]["val/auroc/Mass"])
        assert record["val/macro_auroc"] == pytest.approx(fake.logged[epoch]["val/macro_auroc"])


def fit_phases(run, logs, phases, initial_epoch=0):
    """Fits the tiny model phase by phase, as the trainer does: `logs` from `epoch_logs`."""
    x, y = tiny_data()
    for phase, epochs in phases:
        callbacks = [FakeAuroc(), *(log(phase) for log in logs)]
        tiny_model().fit(
            x, y, epochs=epochs, initial_epoch=initial_epoch, verbose=0, callbacks=callbacks
        )


def test_the_epoch_axis_runs_on_across_phases_and_after_a_resume(tmp_path):
    run = RunDir.locate(tmp_path, "quick", "r").create({})
    logs = wandb_logging.epoch_logs(run)  # metrics.jsonl only
    fit_phases(run, logs, [("head", 3), ("finetune", 2)])
    records = run.read_metrics()
    assert [(r["phase"], r["epoch"], r[wandb_logging.EPOCH_AXIS]) for r in records] == [
        ("head", 1, 1),
        ("head", 2, 2),
        ("head", 3, 3),
        ("finetune", 1, 4),
        ("finetune", 2, 5),
    ]
    # Killed after fine-tune epoch 1 was checkpointed: epoch 2 runs again, as epoch 5.
    run.truncate_metrics("finetune", 1)
    fit_phases(run, logs, [("finetune", 2)], initial_epoch=1)
    assert [r[wandb_logging.EPOCH_AXIS] for r in run.read_metrics()] == [1, 2, 3, 4, 5]


def test_resolve_wandb_mode(monkeypatch, tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine example.com login me password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_BASE_URL", raising=False)
    assert wandb_logging.resolve_wandb_mode() == "offline"
    assert wandb_logging.resolve_wandb_mode("online") == "online"

    netrc.write_text("machine api.wandb.ai login user password abc123\n")
    assert wandb_logging.resolve_wandb_mode() == "online"  # what `wandb login` writes
    netrc.unlink()
    assert wandb_logging.resolve_wandb_mode() == "offline"
    monkeypatch.setenv("WANDB_API_KEY", "abc123")
    assert wandb_logging.resolve_wandb_mode() == "online"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert wandb_logging.resolve_wandb_mode() == "disabled"
    assert wandb_logging.resolve_wandb_mode("offline") == "offline"


def test_disabled_wandb_is_a_no_op(tmp_path):
    """A disabled run takes what a job logs, writes nothing and never imports wandb."""
    model = tmp_path / "model.keras"
    model.write_bytes(b"weights")
    probe = f"""
import sys
import numpy as np
from cxr.tracking import wandb_logging, writer
from cxr.tracking.disabled_run import DisabledRun
run = wandb_logging.init_wandb(config={{"lr": 0.1}}, name="quick", run_dir={str(tmp_path)!r}, mode="disabled")
with wandb_logging.finishing(run) as job:
    image = writer.Image(np.zeros((4, 4), np.uint8))
    writer.write([writer.Result(log={{"map": image}}, summary={{"macro_auroc": 0.7}})], wandb_run=job)
    wandb_logging.log_model_artifact(job, {str(model)!r})
print(type(run).__name__, run.disabled, "wandb" in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["DisabledRun", "True", "False"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]


def calls_on_a_run() -> set:
    """The attributes cxr uses on a W&B run: `wandb_run.<name>` anywhere in cxr/, and
    `run.<name>` in the helpers of `wandb_logging` that take a run."""
    root = pathlib.Path(wandb_logging.__file__).parents[1]
    names = set()
    for path in root.rglob("*.py"):
        names |= set(re.findall(r"\bwandb_run\.(\w+)", path.read_text()))
    helpers = (
        wandb_logging.define_epoch_axis,
        wandb_logging.log_model_artifact,
        wandb_logging.finishing,
    )
    for helper in helpers:
        names |= set(re.findall(r"\brun\.(\w+)", inspect.getsource(helper)))
    return names


def test_the_disabled_run_takes_every_call_cxr_makes_on_a_run():
    names = calls_on_a_run()
    assert {"log", "summary", "finish", "define_metric", "log_artifact"} <= names  # found
    run = DisabledRun()
    assert [n for n in sorted(names) if not hasattr(run, n)] == []
    # Called as cxr calls them: each takes the arguments and keeps nothing.
    run.log({"test/macro_auroc": 0.7})
    run.summary["test/macro_auroc"] = 0.7
    assert run.summary == {}
    wandb_logging.define_epoch_axis(run)
    run.log_artifact(object(), aliases=["best"])
    run.finish()
    run.finish(exit_code=1)
    assert run.disabled and run.id is None
    with run as entered:
        assert entered is run
    with pytest.raises(ValueError), run:
        raise ValueError("goes on")
    with pytest.raises(ValueError), wandb_logging.finishing(run):
        raise ValueError("goes on")


def test_an_error_in_the_block_finishes_an_offline_run_as_failed(monkeypatch, tmp_path, capsys):
    offline_wandb(monkeypatch, tmp_path)
    run_dir = tmp_path / "run"
    run = wandb_logging.init_wandb(config={}, name="quick", run_dir=run_dir, job_type="eval")
    with pytest.raises(UserError, match="bad input"), wandb_logging.finishing(run) as job:
        job.log({"test/macro_auroc": 0.7})
        raise UserError("bad input")
    assert wandb.run is None  # finished: no run is active in this process any more
    # Its one line stays one line: W&B's own `with run:` would print the traceback.
    assert "Traceback" not in capsys.readouterr().err
    wandb.teardown()  # waits for wandb-core to close the run's file
    (path,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    records = read_wandb_records(path)
    exits = [r.exit.exit_code for r in records if r.WhichOneof("record_type") == "exit"]
    assert exits == [1]
    assert items_of(records, "history")[-1]["test/macro_auroc"] == 0.7


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory):
    """One offline W&B run with epoch records, a result and a model, read back from disk."""
    tmp = tmp_path_factory.mktemp("wandb")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WANDB_MODE", "offline")
        for var in ("WANDB_DIR", "WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR"):
            env.setenv(var, str(tmp / var.lower()))
        run_dir = RunDir.locate(tmp / "runs", "quick", None).create({})
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            run = wandb_logging.init_wandb(
                config={"lr": 0.1, "image_size": 224},
                name="quick",
                run_dir=run_dir.path,
                tags=("test",),
                group="tests",
                run_id=run_dir.name,
            )
        fake = FakeAuroc()
        x, y = tiny_data()
        history = {}
        for phase, epochs in (("head", 2), ("finetune", 1)):
            history[phase] = (
                tiny_model()
                .fit(
                    x,
                    y,
                    validation_data=(x, y),
                    epochs=epochs,
                    verbose=0,
                    callbacks=[
                        fake,
                        *(log(phase) for log in wandb_logging.epoch_logs(run_dir, run)),
                    ],
                )
                .history
            )
        test_aurocs = {label: 0.6 + 0.02 * i for i, label in enumerate(LABELS)}
        result = writer.Result(
            log={
                "auroc_table": writer.Table(
                    ["label", "auroc"], list(map(list, test_aurocs.items()))
                )
            },
            summary={"macro_auroc": macro_auroc(test_aurocs)},
        )
        with contextlib.redirect_stdout(printed):
            writer.write([result], wandb_run=run, prefix="test")
        run_dir.model_file.write_bytes(b"not really a model, but 30 MB in a real run")
        wandb_logging.log_model_artifact(run, run_dir.model_file)
        sync_dir = run.settings.sync_dir
        run.finish()
        # finish() can return before wandb-core has flushed the .wandb file (seen
        # once under load); stopping the core process waits for it.
        wandb.teardown()
    (wandb_file,) = run_dir.wandb_dir.glob("offline-run-*/run-*.wandb")
    records = read_wandb_records(wandb_file)
    assert any(r.WhichOneof("record_type") == "exit" for r in records), "incomplete .wandb file"
    return dict(
        records=records,
        run_dir=run_dir.path,
        home=tmp / "wandb_data_dir",  # where W&B would stage without init_wandb
        printed=printed.getvalue(),
        sync_dir=sync_dir,
        fake=fake,
        history=history,
        test_aurocs=test_aurocs,
    )


def test_offline_run_files_are_in_the_run_dir(offline_run):
    assert str(offline_run["sync_dir"]).startswith(str(offline_run["run_dir"] / "wandb"))
    assert f"wandb sync {offline_run['sync_dir']}" in offline_run["printed"]
    assert str(offline_run["sync_dir"]).endswith(offline_run["run_dir"].name)  # W&B id = dir
    (config,) = items_of(offline_run["records"], "run")
    assert config["lr"] == 0.1 and config["image_size"] == 224


def test_offline_history_holds_every_epoch_metric(offline_run):
    rows = [row for row in items_of(offline_run["records"], "history") if "epoch" in row]
    assert [(row["phase"], row["epoch"], row[wandb_logging.EPOCH_AXIS]) for row in rows] == [
        ("head", 1, 1),
        ("head", 2, 2),
        ("finetune", 1, 3),
    ]
    losses = offline_run["history"]["head"]["loss"] + offline_run["history"]["finetune"]["loss"]
    for epoch, row in enumerate(rows):
        expected = offline_run["fake"].logged[epoch]
        for key in ["loss", "val_loss", "val/macro_auroc"] + [f"val/auroc/{x}" for x in LABELS]:
            if math.isnan(expected[key]):
                assert math.isnan(row[key]), key
            else:
                assert row[key] == pytest.approx(expected[key]), key
        assert row["loss"] == pytest.approx(losses[epoch])
        assert row["learning_rate"] == pytest.approx(0.1)


def test_offline_metrics_plot_against_the_epoch_axis(offline_run):
    records = offline_run["records"]
    metrics = {
        (r.metric.name or r.metric.glob_name): r.metric
        for r in records
        if r.WhichOneof("record_type") == "metric"
    }
    assert metrics["*"].step_metric == wandb_logging.EPOCH_AXIS
    assert metrics[MONITOR].step_metric == wandb_logging.EPOCH_AXIS and metrics[MONITOR].summary.max
    summary = {}
    for update in items_of(records, "summary"):
        summary.update(update)
    best = max(logged[MONITOR] for logged in offline_run["fake"].logged)
    assert summary[MONITOR] == {"max": pytest.approx(best)}  # the best epoch, not the last


def test_offline_summary_holds_written_results_and_the_model_artifact(offline_run):
    summary = {}
    for update in items_of(offline_run["records"], "summary"):
        summary.update(update)
    aurocs = offline_run["test_aurocs"]
    assert summary["test/macro_auroc"] == pytest.approx(macro_auroc(aurocs))

    table_path = summary["test/auroc_table.path"]
    (run_files,) = offline_run["run_dir"].glob("wandb/offline-run-*/files")
    table = json.loads((run_files / table_path).read_text())
    assert table["columns"] == ["label", "auroc"]
    assert {label: value for label, value in table["data"]} == pytest.approx(aurocs)

    artifacts = [
        r.artifact for r in offline_run["records"] if r.WhichOneof("record_type") == "artifact"
    ]
    (model,) = [a for a in artifacts if a.type == "model"]
    assert "best" in model.aliases
    (entry,) = model.manifest.contents
    assert entry.path == RunDir.MODEL and entry.skip_cache
    # Staged as a hard link: one copy of the bytes on disk, and the upload (which
    # deletes what it staged) never deletes the model.
    staged, original = os.stat(entry.local_path), os.stat(offline_run["run_dir"] / RunDir.MODEL)
    assert staged.st_ino == original.st_ino and pathlib.Path(entry.local_path).name != RunDir.MODEL


def test_every_file_the_offline_run_names_is_in_its_run_dir(offline_run):
    assert_self_contained(offline_run["records"], offline_run["run_dir"], offline_run["home"])


def test_this_file_passes_under_the_other_backend():
    rerun_under_the_other_backend(__file__)
