"""Temperatures at prediction time: read back as the evaluator saved them, applied by
`cxr predict --calibrated`, and operating points mapped so that no decision changes."""

import csv
import json
import math
import shutil

import keras
import numpy as np
import pytest
from PIL import Image

from cxr.evaluation import calibration_report
from cxr.inference import operating_points, predict, temperature
from cxr.model import classifier
from cxr.stats import temperature as scaling
from cxr.tracking import writer
from cxr.tracking.predictions import Predictions
from cxr.tracking.rundir import EvalDir, RunDir
from cxr_tfds.labels import LABELS

DATA = {"name": "cxr14_subset/64", "val_split": "validation", "test_split": "test"}


def _made_up(seed, n=300):
    """Overconfident float32 probabilities (logits twice a calibrated model's), all labels."""
    rng = np.random.default_rng(seed)
    z = rng.normal(-1.0, 1.5, (n, len(LABELS)))
    labels = (rng.random(z.shape) < 1 / (1 + np.exp(-z))).astype(np.float32)
    probs = (1 / (1 + np.exp(-2 * z))).astype(np.float32)
    return Predictions(
        probs=probs,
        labels=labels,
        image_id=np.array([f"{i}.png" for i in range(n)]),
        patient_id=np.arange(n),
        label_names=LABELS,
        dataset=DATA["name"],
        split="validation",
    )


def _save_temperatures(folder: EvalDir):
    """temperatures.json as the calibration evaluator writes it; returns its fits."""
    document, temperatures = calibration_report.measure(
        preds=_made_up(0), val=_made_up(1), num_bootstrap=2, seed=0
    )
    writer.write([writer.Result(files={folder.file(EvalDir.TEMPERATURES): temperatures})])
    return temperatures["labels"]


def test_load_temperatures_reads_what_the_evaluator_saved(tmp_path):
    fits = _save_temperatures(EvalDir(tmp_path))
    loaded = temperature.load_temperatures(EvalDir(tmp_path))
    assert loaded == {k: fits[k]["temperature"] for k in LABELS}
    assert all(t == pytest.approx(2.0, rel=0.35) for t in loaded.values())
    probs = _made_up(2).probs
    applied = temperature.apply(probs, loaded, LABELS)
    np.testing.assert_array_equal(applied, scaling.scale(probs, [loaded[k] for k in LABELS]))


def test_a_run_without_temperatures_says_which_command_makes_them(tmp_path):
    run = RunDir(tmp_path / "run").create({"data": DATA})
    with pytest.raises(Exception, match=r"make them with: cxr evaluate --run") as raised:
        temperature.run_temperatures(run.path)
    assert "\n" not in str(raised.value)
    _save_temperatures(run.evaluation(DATA["name"], DATA["test_split"]))  # `cxr evaluate`'s
    folder, found = temperature.run_temperatures(run.path)
    assert folder.path == run.evaluation(DATA["name"], DATA["test_split"]).path
    _save_temperatures(run.evaluation())  # the training run's own evaluation comes first
    assert temperature.run_temperatures(run.path)[0].path == run.evaluation().path
    broken = run.evaluation().file(EvalDir.TEMPERATURES)
    broken.write_text("{}")
    with pytest.raises(Exception, match="not a temperatures file of cxr"):
        temperature.load_temperatures(run.evaluation())


@pytest.mark.parametrize("text", ["f1", "youden", "sensitivity=0.8", "specificity=0.9"])
@pytest.mark.parametrize("t", [0.6, 1.0, 2.5])
def test_mapped_thresholds_keep_every_decision_and_rate(text, t):
    val, test = _made_up(3), _made_up(4, n=2000)
    points = operating_points.choose(operating_points.parse(text), val.probs, val.labels, LABELS)
    temperatures = np.full(len(LABELS), t)
    temperatures[0] = math.nan  # a label without a temperature keeps its point
    mapped = operating_points.calibrated(points, temperatures)
    assert mapped[0] == points[0]
    calibrated = scaling.scale(test.probs, temperatures)
    for k, (raw, scaled) in enumerate(zip(points, mapped, strict=True)):
        before = [raw.decide(p) for p in test.probs[:, k]]
        assert [scaled.decide(p) for p in calibrated[:, k]] == before
        assert (scaled.sensitivity, scaled.specificity) == (raw.sensitivity, raw.specificity)
        if k:
            assert scaled.temperature == t
            assert scaled.threshold == pytest.approx(1 / (1 + (1 / raw.threshold - 1) ** (1 / t)))


@pytest.fixture(scope="module")
def calibrated_run(tmp_path_factory):
    """A run with a tiny model, validation predictions and saved temperatures; an image."""
    root = tmp_path_factory.mktemp("calibrated")
    run = RunDir(root / "run").create({"data": DATA})
    keras.utils.set_random_seed(1)
    classifier.build_model(backbone="tiny", image_size=64).save(run.model_file)
    val = _made_up(5)
    folder = run.evaluation(DATA["name"], DATA["val_split"])
    writer.write([writer.Result(files={folder.file(EvalDir.PREDICTIONS): val.encoded()})])
    _save_temperatures(run.evaluation())
    image = root / "gray.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (80, 70), np.uint8)).save(image)
    return run, image


def _rows(folder):
    header, *rows = list(csv.reader(open(folder / predict.PREDICTIONS_CSV)))
    return header, rows


def test_predict_calibrated_scales_probabilities_and_maps_thresholds(calibrated_run, tmp_path):
    run, image = calibrated_run
    args = [str(image), "--run", str(run.path), "--operating-point", "youden", "--top", "0"]
    assert predict.main([*args, "--out", str(tmp_path / "raw")]) == 0
    assert predict.main([*args, "--out", str(tmp_path / "cal"), "--calibrated"]) == 0
    (_, raw), (_, cal) = _rows(tmp_path / "raw"), _rows(tmp_path / "cal")
    temperatures = temperature.load_temperatures(run.evaluation())
    t = [temperatures[k] for k in LABELS]
    raw_p = np.array([float(v) for v in raw[0][1 : 1 + len(LABELS)]])
    cal_p = np.array([float(v) for v in cal[0][1 : 1 + len(LABELS)]])
    # The CSV holds 6 decimals: the raw ones, scaled, agree to about that.
    np.testing.assert_allclose(cal_p, scaling.scale(raw_p[None], t)[0], atol=2e-6)
    assert cal[0][1 + len(LABELS) :] == raw[0][1 + len(LABELS) :]  # the same decisions
    stored = json.loads((tmp_path / "cal" / predict.THRESHOLDS_JSON).read_text())
    plain = json.loads((tmp_path / "raw" / predict.THRESHOLDS_JSON).read_text())
    assert stored["calibrated_with"] == str(run.evaluation().file(EvalDir.TEMPERATURES))
    for k, label in enumerate(LABELS):
        threshold = plain["labels"][label]["threshold"]
        expected = scaling.scale(np.array([[threshold]]), [t[k]])[0, 0]
        assert stored["labels"][label]["threshold"] == expected
        assert stored["labels"][label]["temperature"] == t[k]
        assert "temperature" not in plain["labels"][label]


def test_predict_calibrated_without_temperatures_is_one_line(calibrated_run, tmp_path, capsys):
    run, image = calibrated_run
    bare = RunDir(tmp_path / "bare").create({"data": DATA})
    shutil.copy(run.model_file, bare.model_file)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exited:
        predict.main([str(image), "--run", str(bare.path), "--out", str(out), "--calibrated"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"make them with: cxr evaluate --run {bare.path}" in err
    assert not out.exists()  # nothing written before the error
