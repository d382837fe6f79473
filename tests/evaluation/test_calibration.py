"""The `calibration` evaluator on made-up predictions: its files, W&B items and numbers
against sklearn and a direct temperature fit."""

import dataclasses
import json

import numpy as np
import pytest
import sklearn.metrics

from cxr.evaluation import calibration_report, evaluators
from cxr.stats import temperature
from cxr.tracking import writer
from cxr.tracking.rundir import EvalDir
from cxr_tfds.labels import LABELS
from tests.helpers import made_up_predictions


class Summary(dict):
    """The W&B run's summary as `writer.write` fills it."""


class FakeRun:
    """A W&B run that keeps what it is given (the calls `writer.write` makes)."""

    disabled = False

    def __init__(self):
        self.summary, self.logged = Summary(), {}

    def log(self, items):
        self.logged.update(items)


def _predictions(n=400, seed=0):
    """Overconfident made-up scores (logits 3x a calibrated model's), some labels unknown."""
    rng = np.random.default_rng(seed)
    z = rng.normal(-1.5, 1.5, (n, len(LABELS)))
    labels = (rng.random(z.shape) < 1 / (1 + np.exp(-z))).astype(np.float32)
    probs = (1 / (1 + np.exp(-3 * z))).astype(np.float32)
    gray, _, boxes, box_labels = made_up_predictions.fake_data(n)
    preds = made_up_predictions.predictions(gray, labels, boxes, box_labels, probs)
    preds.patient_id = np.arange(n) // 2  # two images a patient
    return preds


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    preds, val = _predictions(seed=0), _predictions(seed=1)
    val = dataclasses.replace(val, split="validation")
    (evaluator,) = evaluators.from_config({"calibration": {"num_bootstrap": 30}}, seed=3)
    eval_dir = EvalDir(tmp_path_factory.mktemp("eval"))
    run = FakeRun()
    result = evaluator.result(preds=preds, val=val, eval_dir=eval_dir)
    writer.write([result], wandb_run=run, prefix="test")
    return dict(preds=preds, val=val, eval_dir=eval_dir, run=run, result=result)


def test_temperatures_are_fitted_on_validation_and_saved(written):
    saved = json.loads(written["eval_dir"].file(EvalDir.TEMPERATURES).read_text())
    val = written["val"]
    assert saved["fitted_on"]["split"] == "validation"
    for i, label in enumerate(LABELS):
        direct = temperature.fit(temperature.logits(val.probs[:, i]), val.labels[:, i])
        assert saved["labels"][label]["temperature"] == pytest.approx(direct["temperature"])
        assert saved["labels"][label]["temperature"] == pytest.approx(3.0, rel=0.35)


def test_measures_before_and_after_and_the_auroc_that_does_not_move(written):
    document = json.loads(written["eval_dir"].file(EvalDir.CALIBRATION).read_text())
    preds = written["preds"]
    t = [document["temperatures"][k] for k in LABELS]
    scaled = temperature.scale(preds.probs, t)
    for i, label in enumerate(LABELS):
        y = preds.labels[:, i]
        for stage, probs in (("before", preds.probs[:, i]), ("after", scaled[:, i])):
            entry = document[stage]["per_label"][label]
            brier = sklearn.metrics.brier_score_loss(y, np.float64(probs))  # float64: ours
            assert entry["brier"]["value"] == pytest.approx(brier, rel=1e-9)
            auroc = sklearn.metrics.roc_auc_score(y, preds.probs[:, i])
            assert document[stage]["auroc"][label] == auroc  # the raw ranking's, exactly
            # Binned ECE is biased upwards on resamples, so its percentile CI may miss the
            # estimate: only its order and the resamples behind it are checked here.
            assert entry["ece"]["ci_low"] <= entry["ece"]["ci_high"]
            assert entry["ece"]["n_valid_resamples"] == 30
    macro = document["before"]["macro"], document["after"]["macro"]
    assert macro[1]["ece"]["value"] < macro[0]["ece"]["value"]  # 3x overconfident: it helps


def test_reliability_diagrams_and_wandb_keys(written):
    eval_dir, run = written["eval_dir"], written["run"]
    for label in LABELS:
        assert eval_dir.reliability(label).read_bytes()[:4] == b"\x89PNG"
        key = writer.wandb_key("test", calibration_report.diagram_key(label))
        assert key in run.logged
    assert writer.wandb_key("test", calibration_report.TABLE) in run.logged
    ece = run.summary[writer.wandb_key("test", "calibration/macro_ece/after")]
    document = json.loads(eval_dir.file(EvalDir.CALIBRATION).read_text())
    assert ece == document["after"]["macro"]["ece"]["value"]
    assert "Calibration (15 bins" in written["result"].text
    # The note counts the CIs that miss their estimate upwards, counted here from the JSON.
    above = sum(
        e["ece"]["ci_low"] > e["ece"]["value"]
        for stage in ("before", "after")
        for e in [*document[stage]["per_label"].values(), document[stage]["macro"]]
    )
    note = [line for line in written["result"].text.splitlines() if line.startswith("Note:")]
    assert note == ([f"Note: {above} ECE CIs lie wholly above their estimate: binned ECE is "
                     "biased upwards, more so on a resample; read the CIs as spread "
                     "(docs/protocols.md)"] if above else [])  # fmt: skip


def test_the_dashboard_section_shows_logged_keys(written):
    (evaluator,) = evaluators.from_config({"calibration": {"num_bootstrap": 30}}, seed=3)
    (section,) = evaluator.sections(lambda key: writer.wandb_key("test", key), LABELS)
    keys = {key for p in section["panels"] for key in p["keys"]}
    logged = set(written["run"].logged) | set(written["run"].summary)
    assert keys <= logged
    assert sum(p["type"] == "media" for p in section["panels"]) == len(LABELS)


def test_unknown_truth_is_left_out(tmp_path):
    preds, val = _predictions(seed=0), _predictions(seed=1)
    known = np.ones(preds.labels.shape, np.uint8)
    known[:100, 0] = 0
    preds.known = known  # the label-space record's mask (issue 24)
    document, _ = calibration_report.measure(preds=preds, val=val, num_bootstrap=5, seed=0)
    entry = document["before"]["per_label"][LABELS[0]]
    assert entry["images"] == 300
    y, p = preds.labels[100:, 0], preds.probs[100:, 0]
    assert entry["brier"]["value"] == pytest.approx(sklearn.metrics.brier_score_loss(y, p))
