"""`cxr export`'s refusals (one line each, before anything is written or loaded) and
`cxr predict --model <bundle>` against `--run <run>`.

The bundle itself (loads without cxr, predicts as the run, the card's numbers) is
checked on the quickstart run in tests/end_to_end/test_experiments.py.
"""

import io
import json
import subprocess
import sys
import zipfile

import h5py
import keras
import numpy as np
import pytest
from PIL import Image

from cxr.errors import UserError
from cxr.evaluation import evaluators
from cxr.inference import export, predict
from cxr.model import classifier
from cxr.model.losses import WeightedBinaryCrossentropy
from cxr.tracking import writer
from cxr.tracking.predictions import Predictions
from cxr.tracking.rundir import EvalDir, RunDir
from cxr_tfds.labels import LABELS

DATA = {"name": "cxr14_subset/64", "val_split": "validation", "test_split": "test"}


@pytest.fixture
def run(tmp_path):
    """A run directory with a config and nothing else."""
    return RunDir(tmp_path / "runs" / "x" / "1").create({"name": "x", "data": {}})


def test_an_out_folder_with_files_is_refused_and_left_as_it_was(run, tmp_path):
    out = tmp_path / "bundle"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    with pytest.raises(UserError, match=f"--out {out} exists and is not an empty folder"):
        export.export(run.path, out)
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


def test_a_run_not_evaluated_is_refused_before_the_folder_is_made(run, tmp_path):
    out = tmp_path / "bundle"
    with pytest.raises(UserError, match="holds no metrics.json; evaluate the run first"):
        export.export(run.path, out)
    assert not out.exists()


def test_not_a_run_is_one_line_before_any_framework_starts(tmp_path):
    """`cxr export` reads its command line first (cxr.cli.arguments), so the error comes
    without TensorFlow: the child process never imports it."""
    code = (
        "import sys; from cxr.cli.main import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
        "print(json.dumps([code, 'tensorflow' in sys.modules]))"
    )
    args = [sys.executable, "-c", "import json\n" + code, "export", str(tmp_path), "--out", "b"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert json.loads(done.stdout.splitlines()[-1]) == [2, False]
    assert done.stderr.strip().count("\n") == 0
    assert f"{tmp_path} is not a run directory" in done.stderr


def _made_up(seed, split, n=200):
    """Predictions of every label, overconfident (logits twice those of the truth's model)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(-1.0, 1.5, (n, len(LABELS)))
    return Predictions(
        probs=(1 / (1 + np.exp(-2 * z))).astype(np.float32),
        labels=(rng.random(z.shape) < 1 / (1 + np.exp(-z))).astype(np.float32),
        image_id=np.array([f"{i}.png" for i in range(n)]),
        patient_id=np.arange(n),
        label_names=LABELS,
        dataset=DATA["name"],
        split=split,
    )


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    """A tiny run evaluated (classification report, temperatures, validation predictions)
    and exported; an image."""
    root = tmp_path_factory.mktemp("bundled")
    run = RunDir(root / "run").create({"name": "x", "data": DATA})
    keras.utils.set_random_seed(2)
    model = classifier.build_model(backbone="tiny", image_size=64)
    model.compile(optimizer="adam", loss=WeightedBinaryCrossentropy())
    model.optimizer.build(model.trainable_variables)  # its state, as a trained run's file has
    model.save(run.model_file)
    test, val = _made_up(0, "test"), _made_up(1, DATA["val_split"])
    folder = run.evaluation(DATA["name"], DATA["val_split"])
    results = [writer.Result(files={folder.file(EvalDir.PREDICTIONS): val.encoded()})]
    for evaluator in evaluators.from_config(
        {"classification": {"num_bootstrap": 20}, "calibration": {"num_bootstrap": 2}}, seed=0
    ):
        results.append(evaluator.result(preds=test, val=val, eval_dir=run.evaluation()))
    writer.write(results)
    out = export.export(run.path, root / "bundle", wandb_mode="disabled")
    image = root / "gray.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (80, 70), np.uint8)).save(image)
    return run, out, image


def test_predict_with_the_bundle_is_predict_with_the_run(bundled, tmp_path):
    """`cxr predict --model <bundle>`: the same probabilities, Youden decisions and
    calibrated thresholds as `--run <run>`, from the bundle's files alone."""
    run, out, image = bundled
    common = [str(image), "--operating-point", "youden", "--calibrated", "--top", "0"]
    assert predict.main([*common, "--run", str(run.path), "--out", str(tmp_path / "run")]) == 0
    assert predict.main([*common, "--model", str(out), "--out", str(tmp_path / "bundle")]) == 0
    rows = [(tmp_path / d / predict.PREDICTIONS_CSV).read_text() for d in ("run", "bundle")]
    assert rows[0] == rows[1]
    stored = [
        json.loads((tmp_path / d / predict.THRESHOLDS_JSON).read_text())["labels"]
        for d in ("run", "bundle")
    ]
    assert stored[0] == stored[1]
    assert any(entry["threshold"] is not None for entry in stored[1].values())
    card = (out / export.CARD).read_text()
    assert "Calibration" in card and "Research use only" in card


def _weight_groups(path) -> list:
    with zipfile.ZipFile(path) as archive:
        with h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as weights:
            return sorted(weights)


def test_the_bundle_model_has_the_weights_and_no_optimizer_state(bundled):
    run, out, _ = bundled
    assert "optimizer" in _weight_groups(run.model_file)  # the run's keeps it, to resume
    assert "optimizer" not in _weight_groups(out / export.MODEL)
    assert (out / export.MODEL).stat().st_size < run.model_file.stat().st_size
    trained = keras.saving.load_model(run.model_file, compile=False)
    plain = keras.saving.load_model(out / export.MODEL, compile=False)
    for a, b in zip(trained.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_rate_point_or_a_folder_that_is_no_bundle_is_one_line(bundled, tmp_path, capsys):
    _, out, image = bundled
    for args, expected in [
        (
            ["--model", str(out), "--operating-point", "sensitivity=0.9"],
            "carries f1 and youden only",
        ),
        (["--model", str(tmp_path)], "is not a bundle of cxr export"),
    ]:
        with pytest.raises(SystemExit) as exited:
            predict.main([str(image), *args, "--out", str(tmp_path / "out")])
        assert exited.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and expected in err
    assert not (tmp_path / "out").exists()
