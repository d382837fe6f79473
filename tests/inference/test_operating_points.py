"""Operating points chosen on hand-made validation predictions whose thresholds are known."""

import json
import math

import numpy as np
import pytest

from cxr.errors import UserError
from cxr.inference import operating_points
from cxr.tracking.rundir import RunDir

# One label: 10 positives and 10 negatives, every score distinct. Over the thresholds
# "p >= t" (t each score), Youden's J peaks alone at t = 0.35 (sensitivity 0.7,
# specificity 0.7) and F1 alone at t = 0.2 (every positive, 7 false positives: 20/27).
POSITIVES = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.35, 0.3, 0.25, 0.2]
NEGATIVES = [0.05, 0.1, 0.15, 0.22, 0.28, 0.32, 0.34, 0.55, 0.65, 0.75]
NAMES = ("Known", "NoPositive", "NoNegative")


def validation():
    """(probs, labels) of 20 images: the known label, one without positives, one without negatives."""
    known = np.array(POSITIVES + NEGATIVES, np.float32)
    y = np.array([1] * 10 + [0] * 10, np.float32)
    probs = np.stack([known, known, known], axis=1)
    labels = np.stack([y, np.zeros(20), np.ones(20)], axis=1)
    return probs, labels


def chosen(text):
    probs, labels = validation()
    return operating_points.choose(operating_points.parse(text), probs, labels, NAMES)


def brute_force(score):
    """The threshold among the scores that maximises `score(tp, fp, fn, tn)` (a reference)."""
    p, y = validation()[0][:, 0], validation()[1][:, 0] > 0.5
    values = {t: score(*_counts(p >= t, y)) for t in np.unique(p)}
    return max(values, key=values.get)


def _counts(predicted, y):
    return (
        (predicted & y).sum(),
        (predicted & ~y).sum(),
        (~predicted & y).sum(),
        (~predicted & ~y).sum(),
    )


@pytest.mark.parametrize(
    "text, threshold, sensitivity, specificity",
    [
        ("youden", 0.35, 0.7, 0.7),
        ("f1", 0.2, 1.0, 0.3),
        ("sensitivity=0.9", 0.25, 0.9, 0.4),  # the 9th highest positive
        ("sensitivity=0.7", 0.35, 0.7, 0.7),  # the 7th highest positive
        ("specificity=0.7", 0.34, 0.7, 0.7),  # just above the 7th lowest negative
        ("specificity=0.8", 0.55, 0.4, 0.8),
        ("sensitivity=1", 0.2, 1.0, 0.3),
    ],
)
def test_known_thresholds_and_their_validation_rates(text, threshold, sensitivity, specificity):
    known, *_ = chosen(text)
    if text.startswith("specificity"):  # the next float32 above that negative
        assert known.threshold == np.nextafter(np.float32(threshold), np.float32(1))
    else:
        assert known.threshold == np.float32(threshold)
    # Rates are counts over 10 images: exact fractions, up to float64 division.
    assert known.sensitivity == pytest.approx(sensitivity, abs=1e-12)
    assert known.specificity == pytest.approx(specificity, abs=1e-12)
    assert known.reason is None and known.name == text
    assert (known.positives, known.negatives, known.few_positives) == (10, 10, False)


def test_a_target_is_a_share_of_positives_exactly():
    # 25 positives scored 1/25 ... 25/25: 0.56 of them is 14, the 14th highest is 12/25
    # (in floats 0.56 * 25 = 14.000000000000002, which would round up to 15).
    p = np.concatenate([np.arange(1, 26) / 25, np.zeros(5)])
    y = np.arange(30) < 25
    spec = operating_points.parse("sensitivity=0.56")
    assert operating_points.threshold_for_rate(spec, y, p) == 12 / 25


def test_f1_and_youden_agree_with_a_brute_force_search():
    youden = brute_force(lambda tp, fp, fn, tn: tp / (tp + fn) + tn / (tn + fp))
    f1 = brute_force(lambda tp, fp, fn, tn: 2 * tp / (2 * tp + fp + fn))
    assert chosen("youden")[0].threshold == youden and chosen("f1")[0].threshold == f1


def test_decisions_at_the_threshold():
    known = chosen("youden")[0]
    assert known.decide(np.float32(0.35)) == "positive"  # at the threshold: positive
    assert known.decide(np.float32(0.34)) == "negative"
    assert "youden threshold 0.3500; validation sensitivity 0.700, specificity 0.700" in (
        known.describe()
    )


@pytest.mark.parametrize("text", ["f1", "youden", "sensitivity=0.9", "specificity=0.9"])
def test_a_label_validation_cannot_support_is_said_not_guessed(text):
    _, no_positive, no_negative = chosen(text)
    assert no_positive.reason == "no positive in validation"
    assert no_negative.reason == "no negative in validation"
    for point in (no_positive, no_negative):
        assert math.isnan(point.threshold) and point.decide(0.99) == point.decide(0.0)
        assert point.decide(0.5) == operating_points.UNSUPPORTED
        assert point.reason in point.describe()
        assert not point.few_positives  # no threshold to warn about: it is unsupported
    assert no_positive.describe().endswith("(0 positives, 20 negatives)")
    assert no_negative.describe().endswith("(20 positives, 0 negatives)")


def test_the_counts_behind_a_threshold_are_described_and_stored():
    probs, labels = validation()
    labels[:4, 0] = 0  # the known label now rests on 6 positives and 14 negatives
    known, no_positive, _ = operating_points.choose(
        operating_points.parse("youden"), probs, labels, NAMES
    )
    assert (known.positives, known.negatives) == (6, 14) and known.few_positives
    assert known.describe().endswith("(6 positives, 14 negatives)")
    stored = json.loads(
        operating_points.thresholds_json(
            [known, no_positive], chosen_on={"dataset": "d", "split": "validation"}
        )
    )
    assert stored["min_positives"] == operating_points.MIN_POSITIVES == 10
    assert stored["labels"]["Known"] == {
        "operating_point": "youden",
        "rule": f"positive when the probability is at least {known.threshold!r}",
        "threshold": known.threshold,
        "sensitivity": known.sensitivity,
        "specificity": known.specificity,
        "positives": 6,
        "negatives": 14,
        "few_positives": True,
        "unsupported": None,
    }
    no = stored["labels"]["NoPositive"]
    assert no["threshold"] is None and no["sensitivity"] is None  # JSON has no NaN
    assert no["rule"] == "unsupported: no positive in validation" and no["positives"] == 0


def test_one_warning_line_names_each_label_below_the_minimum():
    counts = {"A": 3, "B": 10, "C": 9, "D": 250, "E": 1}
    assert operating_points.few_positives(counts) == ["A", "C", "E"]
    assert operating_points.few_positives_warning(counts) == (
        "warning: 3 thresholds rest on fewer than 10 validation positives, so their "
        "validation rates are rough: A (3), C (9), E (1)"
    )
    assert operating_points.few_positives_warning({"B": 10, "D": 250}) is None
    assert operating_points.few_positives(counts, minimum=4) == ["A", "E"]


@pytest.mark.parametrize(
    "text",
    ["", "sensitivity", "sensitivity=0", "specificity=1.5", "precision=0.9", "f1=0.5", "youden=x"],
)
def test_bad_operating_points_are_one_clear_error(text):
    with pytest.raises(UserError, match="use f1, youden, sensitivity=X or specificity=X"):
        operating_points.parse(text)


def test_a_run_without_validation_predictions_says_how_to_make_them(tmp_path):
    config = {"data": {"name": "cxr14_subset/224", "val_split": "validation"}}
    run = RunDir(tmp_path / "run").create(config)
    with pytest.raises(UserError, match=r"cxr evaluate --run .*run --split 'validation'"):
        operating_points.validation_predictions(run)
