"""Each label is scored on the images where it is known, and says how many it left out."""

import numpy as np
import pytest
import sklearn.metrics

from cxr.evaluation import classification, classification_report, thresholds
from cxr.stats import bootstrap

NAMES = ("Cardiomegaly", "Effusion", "Lung_Opacity")


def _split(seed, num_patients=40, per_patient=2):
    rng = np.random.default_rng(seed)
    patients = np.repeat(np.arange(num_patients), per_patient)
    labels = (rng.random((len(patients), len(NAMES))) < 0.35).astype(np.float32)
    probs = np.round(1 / (1 + np.exp(-(rng.normal(size=labels.shape) + 1.5 * labels))), 2)
    known = rng.random(labels.shape) > 0.3
    # Where unknown, the stored label says nothing: make it look like a confident positive,
    # which would move every number if it were used.
    labels[~known], probs[~known] = 1, 0.01
    return probs, labels, patients, known


@pytest.fixture(scope="module")
def scored():
    test, val = _split(0), _split(1, num_patients=30)
    report = classification.report(
        test_probs=test[0],
        test_labels=test[1],
        test_patients=test[2],
        val_probs=val[0],
        val_labels=val[1],
        label_names=NAMES,
        num_bootstrap=20,
        seed=5,
        test_known=test[3].astype(np.uint8),
        val_known=val[3].astype(np.uint8),
    )
    return report, test, val


def test_auroc_counts_and_thresholds_use_known_images_only(scored):
    report, (probs, labels, patients, known), (val_probs, val_labels, _, val_known) = scored
    for i, name in enumerate(NAMES):
        entry, rows = report["per_label"][name], known[:, i]
        y, p = labels[rows, i], probs[rows, i]
        assert entry["auroc"] == pytest.approx(sklearn.metrics.roc_auc_score(y, p), abs=1e-12)
        assert entry["auprc"] == pytest.approx(sklearn.metrics.average_precision_score(y, p))
        assert entry["n_pos"] == int(y.sum()) and entry["n_neg"] == int((1 - y).sum())
        assert entry["n_pos_patients"] == np.unique(patients[rows][y == 1]).size
        assert entry["n_unknown"] == int((~rows).sum()) > 0
        assert entry["n_val_unknown"] == int((~val_known[:, i]).sum())
        # Max-F1 threshold by brute force over the known validation images' scores.
        vy, vp = val_labels[val_known[:, i], i], val_probs[val_known[:, i], i]
        f1 = [sklearn.metrics.f1_score(vy, vp >= t) for t in np.unique(vp)]
        best = np.unique(vp)[int(np.argmax(f1))]
        assert entry["operating_points"]["f1"]["threshold"] == pytest.approx(best)
        chosen = thresholds.operating_thresholds(val_probs, val_labels, "f1", val_known)
        assert chosen[i] == pytest.approx(best)
        # Test sensitivity at that threshold, on the known test images.
        sensitivity = float(np.mean(p[y == 1] >= best))
        assert entry["operating_points"]["f1"]["test"]["sensitivity"] == pytest.approx(sensitivity)


def test_the_bootstrap_resamples_patients_and_weighs_only_known_images(scored):
    _, (probs, labels, patients, known), _ = scored
    boot = bootstrap.bootstrap_aurocs(
        probs, labels, patients, num_bootstrap=20, seed=5, known=known
    )
    counts = bootstrap.resample_patients(40, 20, np.random.default_rng(5))  # one chunk
    for b in range(20):
        for i in range(len(NAMES)):
            rows = known[:, i]
            weight = counts[b][patients[rows]]  # each image as often as its patient was drawn
            y, p = labels[rows, i], probs[rows, i]
            if 0 < y[weight > 0].sum() < (weight > 0).sum():
                expected = sklearn.metrics.roc_auc_score(y, p, sample_weight=weight)
                assert boot[b, i] == pytest.approx(expected, abs=1e-12)


def test_all_known_is_the_report_without_a_mask():
    probs, labels, patients, _ = _split(2)
    common = dict(
        test_probs=probs,
        test_labels=labels,
        test_patients=patients,
        val_probs=probs,
        val_labels=labels,
        label_names=NAMES,
        num_bootstrap=10,
    )
    masked = classification.report(**common, test_known=np.ones(labels.shape, np.uint8))
    plain = classification.report(**common)
    assert masked == plain


def test_the_text_and_the_csv_say_what_was_left_out(scored):
    report = scored[0]
    text = classification_report.format_report(report)
    entry = report["per_label"]["Effusion"]
    assert f"Effusion {entry['n_unknown']}/{entry['n_val_unknown']}" in text
    columns, rows = classification_report.table(report)
    assert columns[-2:] == ["n_unknown", "n_val_unknown"]
    assert rows[1][-2:] == [entry["n_unknown"], entry["n_val_unknown"]]
