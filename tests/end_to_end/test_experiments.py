"""Every experiment end to end (smoke variants) under TensorFlow and JAX, resume after
kill -9, bad input failing early, and `make evaluate` / `make compare` on real runs."""

import importlib
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from cxr.errors import UserError
from cxr.evaluation import subgroup_report
from cxr.pipeline import experiment_config
from cxr.saliency import localization
from cxr.tracking.rundir import EvalDir, RunDir
from cxr_tfds.labels import LABELS

EXPERIMENTS = ["quickstart", "frozen_head", "finetune"]
WANDB_DATA_DIR = "wandb_data_dir"
# The tests that share `smoke_run`'s runs run on one xdist worker, so each run happens once.
SMOKE_RUNS = pytest.mark.xdist_group("smoke_runs")
# Every experiment under TensorFlow, and under JAX what no other test runs there: a whole
# run from the command line with W&B (frozen_head). finetune:smoke's head and fine-tuning
# phases run under JAX twice in test_multi_device.py (on 1 and 2 devices, checked step by
# step), and quickstart:smoke is that fine-tuning without the head phase: as smoke runs
# here they only repeated it, at 2 minutes of CI each.
SMOKE_MATRIX = [(name, "tensorflow") for name in EXPERIMENTS] + [("frozen_head", "jax")]
# Extra settings of one smoke run each, so that they run end to end somewhere. Smoke runs
# are on the tiny backbone (wiring, in seconds); the quickstart's is the one run of
# DenseNet121 itself end to end, which `make evaluate` then reproduces.
SMOKE_OVERRIDES = {
    ("frozen_head", "tensorflow"): ("--config.eval.tta_flip=True",),
    ("quickstart", "tensorflow"): ("--config.model.backbone=densenet121",),
}


# `python -m cxr experiment ...`, then a check that the whole run never imported PyTorch.
LAUNCHER = """
import sys
from cxr.cli.main import main
try:
    code = main(["experiment", *sys.argv[1:]])
except SystemExit as end:
    code = end.code
if code:
    raise SystemExit(code)
assert "torch" not in sys.modules, "a full run imported torch"
print("PyTorch was never imported")
"""


def environment(tmp_path, backend="tensorflow"):
    return dict(
        os.environ,
        KERAS_BACKEND=backend,
        WANDB_MODE="offline",
        WANDB_DIR=str(tmp_path),
        # Where W&B would stage files if cxr did not keep them in the run directory.
        WANDB_DATA_DIR=str(tmp_path / WANDB_DATA_DIR),
        CI="true",
    )


def run_experiment(spec, tmp_path, data_dir, *overrides, backend="tensorflow", wait=True):
    """Starts `python -m cxr experiment spec` in a fresh process, W&B offline; its output."""
    env = environment(tmp_path, backend)
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


def run_cxr(subcommand, *args, tmp_path, check=True):
    """`python -m cxr subcommand args` in a fresh process, W&B offline: the `CompletedProcess`."""
    out = subprocess.run(
        [sys.executable, "-m", "cxr", subcommand, *map(str, args)],
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check:
        assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    return out


def only_run_dir(tmp_path, name):
    (run_dir,) = (tmp_path / "runs" / name).iterdir()
    return run_dir


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, synthetic_builder, data_dir):
    """`smoke_run(name, backend)`: the output and run directory of `name:smoke`, run once."""
    done = {}

    def get(name, backend="tensorflow"):
        if (name, backend) not in done:
            tmp = tmp_path_factory.mktemp(f"{name}-{backend}")
            extra = SMOKE_OVERRIDES.get((name, backend), ())
            out = run_experiment(f"{name}:smoke", tmp, data_dir, *extra, backend=backend)
            done[name, backend] = out, only_run_dir(tmp, name)
        return done[name, backend]

    return get


def test_experiments_are_listed():
    assert set(EXPERIMENTS) | {"learnability"} <= set(experiment_config.available())


@pytest.mark.parametrize("name", experiment_config.available())
def test_every_experiment_is_a_locked_config_that_states_its_command(name):
    module = importlib.import_module(f"cxr.configs.{name}")
    assert f"make experiment NAME={name}" in module.__doc__
    for variant in (None, "smoke"):
        config = module.get_config(variant)
        assert config.name == name
        with pytest.raises(AttributeError):
            config.no_such_field = 1  # locked: a typo is an error, not a new field
    assert module.get_config("smoke").data.dataset == "cxr14_subset/synthetic"  # offline
    assert module.get_config("smoke").model.backbone == "tiny"  # smoke runs check wiring
    # Smoke runs land apart from real ones (issue 23 item 10): runs/smoke/<name>/.
    assert module.get_config("smoke").runs_dir == "runs/smoke"
    if name != "backbones":  # itself smoke-sized: every variant is under runs/smoke
        assert module.get_config(None).runs_dir == "runs"
    with pytest.raises(UserError, match=name):
        experiment_config.load_config(f"{name}:no-such")


def one_line_error(out, *expected):
    """The process failed with exit code 2 and one stderr line holding `expected`."""
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, out.stdout[-2000:] + out.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr[-3000:]
    for text in expected:
        assert text in lines[0]
    return lines[0]


def test_unknown_experiment_lists_the_available_ones(tmp_path):
    out = run_cxr("experiment", "frozen_hed", tmp_path=tmp_path, check=False)
    listed = ", ".join(experiment_config.available())
    one_line_error(out, f"unknown experiment 'frozen_hed'; available: {listed}")


@pytest.mark.parametrize(
    "override, expected",
    [
        ("--config.train.learnig_rate=1", "learnig_rate"),
        ("--config.seed=seven", "seven"),
        ("--config.train.unfreeze=backbone", "unfreeze mode 'backbone'"),
        ("--config.data.test_split=tst", "no split 'tst'"),
        ("--config.eval.tta_crop=1.5", "eval.tta_crop=1.5"),
    ],
)
def test_bad_overrides_fail_in_one_line_before_any_run_dir(
    tmp_path, synthetic_builder, data_dir, override, expected
):
    # The session's synthetic dataset, built already: a first build in ~/tensorflow_datasets
    # would print TFDS's progress bars to stderr (and write outside the test's folders).
    runs = tmp_path / "runs"
    out = run_cxr(
        "experiment", "frozen_head:smoke", f"--config.runs_dir={runs}",
        f"--config.data.data_dir={data_dir}", override,
        tmp_path=tmp_path, check=False,
    )  # fmt: skip
    one_line_error(out, expected)
    assert not runs.exists() and not (tmp_path / "wandb").exists()


@pytest.mark.parametrize("spec", ["backbones:densenet122", "quickstart"])
def test_an_unknown_backbone_fails_in_one_line_naming_the_registered_ones(spec, tmp_path):
    runs = tmp_path / "runs"
    override = [] if spec.startswith("backbones") else ["--config.model.backbone=resnet51"]
    out = run_cxr(
        "experiment", spec, f"--config.runs_dir={runs}", *override, tmp_path=tmp_path, check=False
    )
    one_line_error(out, "unknown backbone", "densenet121", "efficientnetv2b0", "tiny")
    assert not runs.exists()


def test_no_data_fails_in_one_line_before_any_run_dir(tmp_path):
    runs, empty = tmp_path / "runs", tmp_path / "no_nih_files"
    empty.mkdir()
    out = run_cxr(
        "experiment", "frozen_head", f"--config.runs_dir={runs}",
        f"--config.data.data_dir={tmp_path / 'tfds'}", f"--config.data.manual_dir={empty}",
        "--config.model.weights=None",
        tmp_path=tmp_path, check=False,
    )  # fmt: skip
    one_line_error(out, "cxr14_subset/224 is not built", "Data_Entry_2017_v2020.csv")
    assert not runs.exists() and not (tmp_path / "wandb").exists()


@pytest.mark.parametrize(
    "spec, backbone",
    [("frozen_head:smoke", "densenet121"), ("backbones:efficientnetv2b0", "efficientnetv2b0")],
)
def test_imagenet_weights_offline_fail_in_one_line_before_any_run_dir(
    spec, backbone, tmp_path, data_dir
):
    from cxr.model import backbones

    keras_home = pathlib.Path(os.environ.get("KERAS_HOME", pathlib.Path.home() / ".keras"))
    weights_file = backbones.get(backbone).weights_file
    if (keras_home / "models" / weights_file).exists():
        pytest.skip("ImageNet weights are cached; Keras would not download them")
    runs = tmp_path / "runs"
    # An unreachable download address: offline here and in CI, and fast everywhere.
    env_proxy = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    out = subprocess.run(
        [
            sys.executable, "-m", "cxr", "experiment", spec,
            f"--config.runs_dir={runs}", f"--config.data.data_dir={data_dir}",
            "--config.model.weights=imagenet", f"--config.model.backbone={backbone}",
        ],
        env={**environment(tmp_path), **env_proxy}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    one_line_error(out, "could not download the ImageNet weights", weights_file)
    assert not runs.exists() and not (tmp_path / "wandb").exists()


@SMOKE_RUNS
@pytest.mark.large
@pytest.mark.parametrize("name, backend", SMOKE_MATRIX)
def test_smoke_end_to_end(name, backend, smoke_run):
    out, run_dir = smoke_run(name, backend)
    run = RunDir.open(run_dir)
    assert f"Run files: {run_dir}" in out
    config = run.config()
    assert config["name"] == name and config["backend"] == backend
    epochs = run.read_metrics()
    assert len(epochs) == config["train"]["head_epochs"] + config["train"]["finetune_epochs"]
    assert all("val/macro_auroc" in e and "val/auroc/Cardiomegaly" in e for e in epochs)
    backbone = config["model"]["backbone"]
    assert backbone == ("densenet121" if name == "quickstart" else "tiny")
    assert run.model_file.stat().st_size > (1_000_000 if backbone == "densenet121" else 10_000)
    eval_dir = run.evaluation()
    report = json.loads(eval_dir.file(EvalDir.METRICS).read_text())
    assert report["labels"] == list(LABELS) and report["bootstrap"]["num_resamples"] == 50
    for file_name in (EvalDir.PER_LABEL, EvalDir.ROC, EvalDir.AUROC, EvalDir.PREDICTIONS):
        assert eval_dir.file(file_name).stat().st_size > 0
    assert list((eval_dir.path / EvalDir.GALLERIES).glob("*.png"))
    localization = json.loads(eval_dir.file(EvalDir.LOCALIZATION).read_text())
    assert localization  # synthetic boxes, measured
    assert "Localization of" in out
    assert list(run.wandb_dir.glob("offline-run-*/run-*.wandb"))
    assert "Atelectasis" in out and "macro" in out  # the terminal table
    assert "PyTorch was never imported" in out
    # frozen_head:smoke is a head on a frozen random backbone: warned, the others not.
    assert ("frozen random backbone" in out) == (name == "frozen_head")
    tta = "Test-time augmentation: mean probability of the image and its mirror image"
    assert (
        (tta in out)
        == config["eval"]["tta_flip"]
        == ((name, backend) == ("frozen_head", "tensorflow"))
    )


@SMOKE_RUNS
@pytest.mark.large
def test_evaluate_reproduces_the_runs_own_metrics_and_never_overwrites_them(smoke_run, tmp_path):
    _, run_dir = smoke_run("quickstart")
    run = RunDir.open(run_dir)
    before = run.evaluation().file(EvalDir.METRICS).read_bytes()
    config = run.config()
    out = run_cxr("evaluate", "--run", run_dir, tmp_path=tmp_path)
    again = run.evaluation(config["data"]["name"], config["data"]["test_split"])
    assert again.file(EvalDir.METRICS).read_bytes() == before  # exactly, per machine
    assert run.evaluation().file(EvalDir.METRICS).read_bytes() == before
    assert list(again.path.glob("wandb/offline-run-*/run-*.wandb"))  # its own `eval` job
    assert f"Evaluation files: {again.path}" in out.stdout

    for args, expected in [
        (["--run", tmp_path], f"{tmp_path} is not a run directory"),
        (["--run", run_dir, "--data", "cxr14_subset/nope"], "cxr14_subset/nope"),
        (["--run", run_dir, "--split", "tset"], "no split 'tset'"),
    ]:
        one_line_error(run_cxr("evaluate", *args, tmp_path=tmp_path, check=False), expected)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / RunDir.CONFIG).write_text(run.config_file.read_text())
    (broken / RunDir.MODEL).write_bytes(b"junk")
    one_line_error(
        run_cxr("evaluate", "--run", broken, tmp_path=tmp_path, check=False),
        f"{broken / RunDir.MODEL} is not a Keras model",
    )


@SMOKE_RUNS
@pytest.mark.large
def test_compare_pairs_runs_on_the_same_images_and_refuses_others(smoke_run, tmp_path):
    _, head_run = smoke_run("frozen_head")  # evaluated on test[:32]
    _, quick_run = smoke_run("quickstart")  # on test[:16]
    out = run_cxr("compare", head_run, quick_run, "--out", tmp_path / "no",
                     tmp_path=tmp_path, check=False)  # fmt: skip
    one_line_error(out, "16", "32")
    assert not (tmp_path / "no").exists()

    split = json.loads((head_run / RunDir.CONFIG).read_text())["data"]["test_split"]
    run_cxr("evaluate", "--run", quick_run, "--split", split, tmp_path=tmp_path)
    again = RunDir(quick_run).evaluation("cxr14_subset/synthetic", split).path
    out = run_cxr("compare", head_run, again, "--out", tmp_path / "ab", tmp_path=tmp_path)
    saved = json.loads((tmp_path / "ab" / "compare.json").read_text())
    assert saved and (tmp_path / "ab" / "compare.png").read_bytes()[:4] == b"\x89PNG"
    assert "macro" in out.stdout


@SMOKE_RUNS
@pytest.mark.large
def test_the_dashboard_names_keys_a_real_run_logged(smoke_run, monkeypatch):
    """`finetune:smoke` (head, then fine-tune) offline: the view's keys, the running epoch
    axis, the gallery's box groups and mask, and nothing outside the run directory."""
    from cxr.pipeline import dashboard
    from cxr.tracking import wandb_logging
    from tests.helpers.dashboard_spec import assert_logged, the_runs_own
    from tests.helpers.wandb_records import (
        assert_self_contained,
        items_of,
        logged_items,
        read_wandb_records,
    )

    _, run_dir = smoke_run("finetune")
    run = RunDir.open(run_dir)
    monkeypatch.setenv("WANDB_MODE", "offline")
    spec = json.loads(dashboard.dashboard(run=run).read_text())
    assert_logged(the_runs_own(spec), logged_items(run.path))

    (wandb_file,) = run.wandb_dir.glob("offline-run-*/run-*.wandb")
    records = read_wandb_records(wandb_file)
    assert_self_contained(records, run.path, run.path.parents[2] / WANDB_DATA_DIR)
    epochs = [h for h in items_of(records, "history") if "phase" in h]
    assert [(h["phase"], h[wandb_logging.EPOCH_AXIS]) for h in epochs] == [
        ("head", 1),
        ("finetune", 2),
    ]
    table_file = next(
        e.local_path
        for r in records
        if r.WhichOneof("record_type") == "artifact"
        for e in r.artifact.manifest.contents
        if e.path.endswith("gradcam/gallery.table.json")
    )
    table = json.loads(pathlib.Path(table_file).read_text())
    xray = table["columns"].index("xray")
    for row in table["data"]:
        assert set(row[xray]["boxes"]) == {"ground_truth", "predictions"}
        assert "heat" in row[xray]["masks"]


# Epochs of the killed run: on the tiny backbone an epoch takes a fraction of a second, so
# enough of them that the kill lands mid-training.
KILL_EPOCHS = 12


@pytest.mark.large
def test_killed_run_resumes_to_the_same_result(tmp_path, synthetic_builder, data_dir):
    """kill -9 mid-training, start again with the same run id: same result as no kill."""
    # Images through the network each epoch (no feature cache), so epochs take seconds;
    # the evaluation, which the test does not check, as small as it goes.
    args = [
        "--config.eval.num_bootstrap=10",
        "--config.eval.gallery_per_kind=1",
        "--config.train.feature_cache=False",
        f"--config.train.head_epochs={KILL_EPOCHS}",
        "--config.train.head_stop_patience=100",
        "--config.train.head_lr_patience=1",
        "--config.train.finetune_epochs=0",
    ]
    run_experiment("frozen_head:smoke", tmp_path / "a", data_dir, *args, "--config.run_id=straight")

    resumed = tmp_path / "b"
    state = RunDir(resumed / "runs" / "frozen_head" / "killed").state_file
    process = run_experiment(
        "frozen_head:smoke", resumed, data_dir, *args, "--config.run_id=killed", wait=False
    )
    deadline = time.time() + 300
    while not (state.exists() and json.loads(state.read_text())["epoch"] >= 2):
        assert process.poll() is None and time.time() < deadline, "run ended before it was killed"
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = json.loads(state.read_text())["epoch"]
    assert killed_at < KILL_EPOCHS
    out = run_experiment("frozen_head:smoke", resumed, data_dir, *args, "--config.run_id=killed")
    assert f"Resuming phase 'head' after epoch {killed_at}" in out

    def history(root, run_id):
        return RunDir(root / "runs" / "frozen_head" / run_id).read_metrics()

    straight, again = history(tmp_path / "a", "straight"), history(resumed, "killed")
    assert [e["epoch"] for e in again] == list(range(1, KILL_EPOCHS + 1))
    # The same machine repeats the same deterministic float32 ops, before and after the
    # kill; 1e-5 only allows for the optimizer state's round trip through the checkpoint.
    for key in ("loss", "val/macro_auroc", "learning_rate"):
        np.testing.assert_allclose([e[key] for e in again], [e[key] for e in straight], rtol=1e-5)


@pytest.mark.large
def test_smoke_model_on_the_real_sample_measures_localization(tmp_path, sample_dir, data_dir):
    """frozen_head:smoke on the 195 real images: its 9 boxed test images get a localization table."""
    out = run_experiment(
        "frozen_head:smoke",
        tmp_path,
        data_dir,
        "--config.data.dataset=cxr14_subset/224",
        f"--config.data.manual_dir={sample_dir}",
        "--config.data.train_split=train",
        "--config.data.val_split=validation",
        "--config.data.test_split=test",
    )
    run_dir = only_run_dir(tmp_path, "frozen_head")
    table = json.loads(RunDir(run_dir).evaluation().file(EvalDir.LOCALIZATION).read_text())
    assert table["all boxes"]["n"] == 9
    per_label = {
        k: row
        for k, row in table.items()
        if k not in (localization.ALL_BOXES, localization.LABEL_MEAN)
    }
    assert sum(row["n"] for row in per_label.values()) == 9
    assert table["Nodule"]["n"] == 3 and table["Infiltration"]["n"] == 1
    report = json.loads(RunDir(run_dir).evaluation().file(EvalDir.METRICS).read_text())
    assert report["official_images"] == 80 and not report["comparable"]
    assert "not comparable: 80 of 25,596 official test images" in out
    assert "Localization of 9 test boxes" in out
    # Every evaluation audits subgroups and calibration, the real sample's too: NIH's CSV
    # gives each image's sex, age and view.
    evaluation = RunDir(run_dir).evaluation()
    subgroups = json.loads(evaluation.file(subgroup_report.JSON_FILE).read_text())
    assert set(subgroups["attributes"]) == {"sex", "age", "view"}
    assert subgroups["underdiagnosis"]["groups"]["all"]["underdiagnosis"]["n_images"] > 0
    calibration = json.loads(evaluation.file(EvalDir.CALIBRATION).read_text())
    assert set(calibration["before"]["per_label"]) == set(LABELS)


# A fresh Python with Keras and numpy but no cxr: any import of cxr (or cxr_tfds) fails.
WITHOUT_CXR = """
import sys

class NoCxr:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("cxr", "cxr_tfds"):
            raise ImportError(f"{name}: a bundle must load without cxr")

sys.meta_path.insert(0, NoCxr())
"""
BUNDLE_PREDICT = (
    WITHOUT_CXR
    + """
import runpy
import keras, numpy as np
model = keras.models.load_model(sys.argv[1], compile=False)
logits = keras.ops.convert_to_numpy(model.predict(np.load(sys.argv[2]), verbose=0))
np.save(sys.argv[3], 1 / (1 + np.exp(-logits.astype(np.float64))))
print("EXAMPLE")
runpy.run_path(sys.argv[4])  # the bundle's example, in the same Python without cxr
"""
)


def _card_aurocs(card: str) -> dict:
    """{label: (auroc, low, high)} from the card's per-label AUROC table, as printed."""
    found = {}
    table = card.split("| label | AUROC [95% CI] |", 1)[1].split("\n\n", 1)[0]
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 4 and cells[1][:1].isdigit() and "[" in cells[1]:
            value, _, ci = cells[1].partition(" [")
            low, high = ci.rstrip("]").split(", ")
            found[cells[0].strip("*")] = (float(value), float(low), float(high))
    return found


@SMOKE_RUNS
@pytest.mark.large
def test_export_bundle_loads_without_cxr_and_predicts_as_the_run(smoke_run, tmp_path, data_dir):
    """`cxr export` on the quickstart run (DenseNet121): the bundle's model loads in a
    Python where cxr cannot be imported, gives the run's own test probabilities, its
    example runs there too, and the card's AUROCs are the evaluation's."""
    import tensorflow_datasets as tfds

    from cxr.data import evaluation_batches
    from cxr.inference import export

    _, run_dir = smoke_run("quickstart")
    run = RunDir.open(run_dir)
    bundle = tmp_path / "bundle"
    out = run_cxr("export", run_dir, "--out", bundle, tmp_path=tmp_path)
    assert f"Bundle written to {bundle}" in out.stdout
    saved = run.evaluation().read_predictions()
    builder = tfds.builder(saved["dataset"], data_dir=str(data_dir))
    images = np.concatenate(
        [
            b["image"]
            for b in evaluation_batches.batches(builder, saved["split"], 16).as_numpy_iterator()
        ]
    )
    np.save(tmp_path / "images.npy", images)
    command = [sys.executable, "-c", BUNDLE_PREDICT, bundle / export.MODEL]
    command += [tmp_path / "images.npy", tmp_path / "probs.npy", bundle / export.EXAMPLE]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    # The same weights and float32 ops in another process, batched differently: sums
    # may be reduced in another order, a few float32 ulps on any x86 CPU.
    np.testing.assert_allclose(np.load(tmp_path / "probs.npy"), saved["probs"], atol=1e-5)
    example = done.stdout.split("EXAMPLE\n", 1)[1].splitlines()
    assert [line.split()[0] for line in example] == list(saved["label_names"])
    metrics = json.loads(run.evaluation().file(EvalDir.METRICS).read_text())
    card = (bundle / export.CARD).read_text()
    assert "Research use only, not for clinical decisions" in card
    rows = _card_aurocs(card)
    # metrics.json is strict JSON: an undefined AUROC is null there, "n/a" in the card.
    expected = {k: v for k, v in metrics["per_label"].items() if v["auroc"] is not None}
    expected["macro"] = metrics["macro"]
    assert set(rows) == set(expected)
    for label, entry in expected.items():
        assert rows[label] == tuple(round(entry[k], 3) for k in ("auroc", "ci_low", "ci_high"))
    points = json.loads((bundle / export.OPERATING_POINTS).read_text())
    assert set(points["youden"]) == set(saved["label_names"])
    assert not (bundle / "wandb").exists()  # the artifact's W&B files stay in the run
    assert list(run_dir.glob("wandb/offline-run-*"))
