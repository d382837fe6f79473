"""Every experiment end to end (smoke variants), under TensorFlow and JAX, and resume after kill -9."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from cxr import experiment

EXPERIMENTS = ["quickstart", "frozen_head", "finetune"]


# `python -m cxr.experiment ...`, then a check that the whole run never imported PyTorch.
LAUNCHER = """
import sys
from cxr import experiment
sys.argv = ["cxr.experiment", *sys.argv[1:]]
try:
    experiment.main()
except SystemExit as end:
    if end.code:
        raise
assert "torch" not in sys.modules, "a full run imported torch"
print("PyTorch was never imported")
"""


def run_experiment(spec, tmp_path, data_dir, *overrides, backend="tensorflow", wait=True):
    """Starts `python -m cxr.experiment spec` in a fresh process, W&B offline."""
    env = dict(
        os.environ, KERAS_BACKEND=backend, WANDB_MODE="offline", WANDB_DIR=str(tmp_path), CI="true"
    )
    args = [
        sys.executable,
        "-c",
        LAUNCHER,
        spec,
        f"--config.runs_dir={tmp_path / 'runs'}",
        f"--config.data.data_dir={data_dir}",
        f"--config.train.feature_cache_dir={tmp_path / 'features'}",
        *overrides,
    ]
    process = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    if not wait:
        return process
    out, _ = process.communicate(timeout=600)
    assert process.returncode == 0, out[-3000:]
    return out


def only_run_dir(tmp_path, name):
    (run_dir,) = (tmp_path / "runs" / name).iterdir()
    return run_dir


def test_experiments_are_listed():
    assert set(EXPERIMENTS) <= set(experiment.available())


def test_unknown_experiment_lists_the_available_ones():
    out = subprocess.run(
        [sys.executable, "-m", "cxr.experiment", "frozen_hed"], capture_output=True, text=True
    )
    assert out.returncode != 0
    assert (
        "unknown experiment 'frozen_hed'; available: finetune, frozen_head, quickstart"
        in out.stderr
    )


def test_misspelt_override_fails_loudly(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "cxr.experiment",
            "quickstart:smoke",
            "--config.train.learnig_rate=1",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0 and "learnig_rate" in out.stderr


@pytest.mark.large
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_smoke_end_to_end(name, backend, tmp_path, synthetic_builder, data_dir):
    out = run_experiment(f"{name}:smoke", tmp_path, data_dir, backend=backend)
    run_dir = only_run_dir(tmp_path, name)
    assert f"Run files: {run_dir}" in out
    config = json.loads((run_dir / "config.json").read_text())
    assert config["name"] == name
    epochs = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert len(epochs) == config["train"]["head_epochs"] + config["train"]["finetune_epochs"]
    assert all("val_macro_auroc" in e and "val/auroc/Cardiomegaly" in e for e in epochs)
    assert (run_dir / "model.keras").stat().st_size > 1_000_000
    report = json.loads((run_dir / "eval" / "metrics.json").read_text())
    assert set(report["per_label"]) == set(
        config["labels"] if "labels" in config else report["labels"]
    )
    assert len(report["per_label"]) == 14 and report["bootstrap"]["num_resamples"] == 50
    for name in ("per_label.csv", "roc.png", "auroc.png"):
        assert (run_dir / "eval" / name).stat().st_size > 0
    assert list((run_dir / "gradcam").glob("*.png"))  # galleries
    localization = json.loads((run_dir / "eval" / "localization.json").read_text())
    assert sum(row["n"] for row in localization.values()) > 0  # synthetic boxes, measured
    assert "Localization of" in out
    assert list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert "Atelectasis" in out and "macro" in out  # the terminal table
    assert "PyTorch was never imported" in out


@pytest.mark.large
def test_killed_run_resumes_to_the_same_result(tmp_path, synthetic_builder, data_dir):
    """kill -9 mid-training, start again with the same run id: same result as no kill."""
    # Images through the network each epoch (no feature cache), so epochs take seconds.
    args = [
        "--config.train.feature_cache=False",
        "--config.train.head_epochs=4",
        "--config.train.head_stop_patience=10",
        "--config.train.head_lr_patience=1",
        "--config.train.finetune_epochs=0",
    ]
    run_experiment("frozen_head:smoke", tmp_path / "a", data_dir, *args, "--config.run_id=straight")

    resumed = tmp_path / "b"
    state = resumed / "runs" / "frozen_head" / "killed" / "checkpoints" / "state.json"
    process = run_experiment(
        "frozen_head:smoke", resumed, data_dir, *args, "--config.run_id=killed", wait=False
    )
    deadline = time.time() + 300
    while not (state.exists() and json.loads(state.read_text())["epoch"] >= 2):
        assert process.poll() is None and time.time() < deadline, "run ended before it was killed"
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = json.loads(state.read_text())["epoch"]
    assert killed_at < 4
    out = run_experiment("frozen_head:smoke", resumed, data_dir, *args, "--config.run_id=killed")
    assert f"Resuming phase 'head' after epoch {killed_at}" in out

    def history(root, run_id):
        lines = (root / "runs" / "frozen_head" / run_id / "metrics.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]

    straight, again = history(tmp_path / "a", "straight"), history(resumed, "killed")
    assert [e["epoch"] for e in again] == [1, 2, 3, 4]
    for key in ("loss", "val_macro_auroc", "learning_rate"):
        np.testing.assert_allclose([e[key] for e in again], [e[key] for e in straight], rtol=1e-5)


@pytest.mark.large
def test_smoke_model_on_the_real_sample_measures_localization(tmp_path, sample_dir, data_dir):
    """frozen_head:smoke on the 195 real images: its 9 boxed test images get a localization table."""
    out = run_experiment(
        "frozen_head:smoke",
        tmp_path,
        data_dir,
        "--config.data.name=cxr14_subset/224",
        f"--config.data.manual_dir={sample_dir}",
        "--config.data.train_split=train",
        "--config.data.val_split=validation",
        "--config.data.test_split=test",
    )
    run_dir = only_run_dir(tmp_path, "frozen_head")
    table = json.loads((run_dir / "eval" / "localization.json").read_text())
    assert table["all boxes"]["n"] == 9
    assert sum(row["n"] for label, row in table.items() if label != "all boxes") == 9
    assert table["Nodule"]["n"] == 3 and table["Infiltration"]["n"] == 1
    report = json.loads((run_dir / "eval" / "metrics.json").read_text())
    assert report["official_test"] and report["n_test_images"] == 80
    assert "Localization of 9 test boxes" in out
