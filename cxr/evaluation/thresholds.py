"""Operating points chosen on validation: the thresholds maximising F1 and Youden's J per
label, and the rates they give on test (`cxr.evaluation.classification`'s report, the
galleries, `cxr predict --operating-point`, the subgroups' underdiagnosis).
"""

import math

import numpy as np

from cxr.stats import bootstrap
from cxr.stats.auroc import undefined_reason

POINTS = ("f1", "youden")  # the operating points, chosen on validation
# The fewest validation positives a threshold may rest on without a warning. Below 10,
# the validation sensitivity moves in steps of more than 0.1 and its 95% interval is
# wider than +-0.2 (9 of 10 found: Wilson 0.60-0.98): the rate printed beside the
# threshold, and the threshold itself, are then little more than anecdotes. Every
# "rests on fewer than N positives" warning of cxr uses this one number.
MIN_POSITIVES = 10


def few_positives_text(positives: int) -> str | None:
    """The warning of thresholds chosen on `positives` validation positives, or None when
    there are enough (or none at all: then no threshold is chosen, and a reason says so)."""
    if positives == 0 or positives >= MIN_POSITIVES:
        return None
    return (
        f"its thresholds rest on {positives} validation positives (fewer than "
        f"{MIN_POSITIVES}): their test sensitivity and specificity can be far off, even 0"
    )


def degenerate(y, split):
    """Why AUROC/thresholds are undefined for labels `y` of `split`, or None."""
    if len(y) == 0:
        return f"no image in {split}"
    return undefined_reason(y, f"in {split}")


def operating_thresholds(val_probs, val_labels, point="f1", known=None):
    """Each label's threshold at one operating point, chosen on validation as `report` does.

    Args:
        val_probs: Validation scores (M, L).
        val_labels: Validation multi-hot labels (M, L).
        point: "f1" (max F1) or "youden" (max Youden's J).
        known: (M, L) true where the label is known (only those images choose); None: all.

    Returns:
        (L,) float array; NaN for a label without a positive or a negative in validation.
    """
    val_probs, val_labels = np.asarray(val_probs, np.float64), np.asarray(val_labels)
    known = np.ones(val_labels.shape, bool) if known is None else np.asarray(known, bool)
    return np.array(
        [
            _choose(val_labels[known[:, i], i], val_probs[known[:, i], i])[point][0]
            for i in range(val_probs.shape[1])
        ],
        dtype=np.float64,
    ).reshape(-1)


def _choose(val_y, val_p):
    """{point: (threshold, validation F1 or J)} maximising F1 and Youden's J; NaN if undefined."""
    if degenerate(val_y, "validation") is not None:
        return dict.fromkeys(POINTS, (math.nan, math.nan))
    import sklearn.metrics

    precision, recall, thresholds = sklearn.metrics.precision_recall_curve(val_y, val_p)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    best_f1 = int(np.argmax(f1))
    fpr, tpr, roc_thresholds = sklearn.metrics.roc_curve(val_y, val_p)
    youden = np.where(np.isfinite(roc_thresholds), tpr - fpr, -np.inf)  # skip "predict none"
    best_j = int(np.argmax(youden))
    return {
        "f1": (float(thresholds[best_f1]), float(f1[best_f1])),
        "youden": (float(roc_thresholds[best_j]), float(youden[best_j])),
    }


def operating_points(val_y, val_p, test_y, test_p):
    """Thresholds maximising F1 and Youden's J on validation, measured on test."""
    points = {}
    for key, (threshold, score) in _choose(val_y, val_p).items():
        predicted = None if math.isnan(threshold) else test_p >= threshold
        points[key] = {
            "threshold": threshold,
            "val_score": score,
            "test": _rates(test_y, predicted),
        }
    return points


def _rates(y, predicted):
    """Sensitivity, specificity, precision and F1 of 0/1 predictions (None: all NaN)."""
    keys = ("sensitivity", "specificity", "precision", "f1")
    if predicted is None:
        return dict.fromkeys(keys, math.nan)
    y = y > 0.5
    tp, fp = int(np.sum(predicted & y)), int(np.sum(predicted & ~y))
    fn, tn = int(np.sum(~predicted & y)), int(np.sum(~predicted & ~y))
    values = (
        _div(tp, tp + fn),
        _div(tn, tn + fp),
        _div(tp, tp + fp),
        _div(2 * tp, 2 * tp + fp + fn),
    )
    return dict(zip(keys, values, strict=True))


def _div(a, b):
    return a / b if b else math.nan


def rate_cis(per_label, test, num_bootstrap, seed, warn):
    """Adds patient-bootstrap CIs of test sensitivity and specificity at each operating point.

    The resamples are the AUROC bootstrap's own (same patients, count and seed); an image
    whose label is unknown counts as neither positive nor negative. `warn(n_valid,
    num_bootstrap)` is the sentence for a CI on too few valid resamples, or None.
    """
    probs, labels, patients, known = test
    groups, num_patients = bootstrap.patient_index(patients)
    names = list(per_label)
    y, not_y = (labels > 0.5) & known, (labels <= 0.5) & known
    # Columns per (label, point): true positives, true negatives; per label: positives, negatives.
    columns, keys = [], []
    for i, name in enumerate(names):
        for point in POINTS:
            threshold = per_label[name]["operating_points"][point]["threshold"]
            predicted = probs[:, i] >= threshold  # False everywhere for a NaN threshold
            columns += [predicted & y[:, i], ~predicted & not_y[:, i]]
            keys.append((name, point))
    for i in range(len(names)):
        columns += [y[:, i], not_y[:, i]]
    # Summed per patient first: a resample's count is then counts @ per_patient, and no
    # resamples x images array is ever made (memory grows with patients, not images).
    per_patient = np.stack(
        [np.bincount(groups, weights=column, minlength=num_patients) for column in columns],
        axis=1,
    )
    sums = np.full((num_bootstrap, per_patient.shape[1]), math.nan)
    for start, counts in bootstrap.resample_chunks(num_patients, num_bootstrap, seed):
        sums[start : start + len(counts)] = counts @ per_patient
    n_points = 2 * len(keys)
    positives, negatives = sums[:, n_points::2], sums[:, n_points + 1 :: 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        for k, (name, point) in enumerate(keys):
            i = names.index(name)
            rates = per_label[name]["operating_points"][point]["test"]
            for rate, hits, total in (
                ("sensitivity", sums[:, 2 * k], positives[:, i]),
                ("specificity", sums[:, 2 * k + 1], negatives[:, i]),
            ):
                ci = bootstrap.percentile_ci(hits / total)
                valid = math.isfinite(rates[rate])
                rates[f"{rate}_ci"] = [ci["ci_low"], ci["ci_high"]] if valid else [math.nan] * 2
                rates[f"{rate}_n_valid"] = ci["n_valid_resamples"] if valid else 0
                warning = warn(ci["n_valid_resamples"], num_bootstrap)
                rates[f"{rate}_warning"] = warning if valid else None
