"""Test-set evaluation with patient-level bootstrap CIs and validation-chosen thresholds.

`evaluate` turns test and validation predictions into a JSON-serialisable
report; `cxr.report` puts it on disk, in W&B and on the terminal. Everything
takes plain numpy arrays.
"""

import math

import numpy as np
import sklearn.metrics

from cxr.metrics import macro_auroc, per_label_auroc
from cxr.published import PUBLISHED, PUBLISHED_MACRO
from cxr_tfds.labels import LABELS

CI_LEVEL = 0.95  # the confidence level of every interval in a report
_CHUNK = 100  # resamples per vectorised step: bounds memory at ~_CHUNK x N ints


def evaluate(
    test_probs,
    test_labels,
    test_patients,
    val_probs,
    val_labels,
    label_names=LABELS,
    num_bootstrap=1000,
    seed=0,
    official_test=False,
):
    """Evaluates test predictions, with thresholds chosen on validation.

    Args:
        test_probs: Test scores (N, L): probabilities (logits rank the same,
            but the thresholds are then on the logit scale).
        test_labels: Test multi-hot labels (N, L) of 0/1.
        test_patients: Patient id of each test image (N,), any sortable type;
            the bootstrap resamples patients, since images of one patient
            are correlated.
        val_probs: Validation scores (M, L), on the same scale as `test_probs`.
        val_labels: Validation multi-hot labels (M, L).
        label_names: The L label names in column order; the 14 ChestX-ray14
            labels by default.
        num_bootstrap: Number of patient-level bootstrap resamples; 1000.
        seed: Seed of the bootstrap's random generator; 0.
        official_test: Whether the test split is NIH's official test list;
            then the report sets the published CheXNet and Wang et al.
            numbers beside ours (`label_names` must then be among the 14).
            False by default.

    Returns:
        A JSON-serialisable dict:
            "labels", "n_test_images", "n_test_patients", "n_val_images",
            "official_test", "bootstrap" (unit, num_resamples, seed, ci_level);
            "macro": auroc, ci_low, ci_high, n_valid_resamples, n_labels
                (labels defined on test, the only ones averaged), auprc,
                published (model -> macro AUROC, or None);
            "per_label": label -> auroc, ci_low, ci_high, n_valid_resamples,
                auprc, prevalence, n_pos, n_neg, reason (why the test numbers
                are NaN, else None), val_reason (same for the thresholds),
                published (model -> AUROC, or None), operating_points:
                {"f1"|"youden": threshold, val_score (F1 or J on validation),
                test: sensitivity, specificity, precision, f1};
            "roc_curves": label -> fpr, tpr (test ROC corners to 1e-4; defined labels only).
    """
    test_probs, test_labels = _check(test_probs, test_labels, label_names, "test")
    val_probs, val_labels = _check(val_probs, val_labels, label_names, "validation")
    test_patients = np.asarray(test_patients)
    if test_patients.shape != (len(test_probs),):
        raise ValueError(f"test_patients must have shape ({len(test_probs)},)")

    aurocs = per_label_auroc(test_labels, test_probs, label_names)
    defined = [i for i, name in enumerate(label_names) if not math.isnan(aurocs[name])]
    boot = bootstrap_aurocs(test_probs, test_labels, test_patients, num_bootstrap, seed)
    published = bool(official_test)  # then every label must be one of the 14 published

    per_label, roc_curves = {}, {}
    for i, name in enumerate(label_names):
        y, p = test_labels[:, i], test_probs[:, i]
        n_pos = int(y.sum())
        entry = {"auroc": aurocs[name], **_ci(boot[:, i])}
        entry.update(
            auprc=_auprc(y, p),
            prevalence=n_pos / len(y) if len(y) else math.nan,
            n_pos=n_pos,
            n_neg=len(y) - n_pos,
            reason=_degenerate(y, "test"),
            val_reason=_degenerate(val_labels[:, i], "validation"),
            operating_points=_operating_points(val_labels[:, i], val_probs[:, i], y, p),
            published={k: v[name] for k, v in PUBLISHED.items()} if published else None,
        )
        per_label[name] = entry
        if entry["reason"] is None:
            # Rounded: plotting needs no more, and it halves metrics.json.
            fpr, tpr, _ = sklearn.metrics.roc_curve(y, p)
            roc_curves[name] = {"fpr": fpr.round(4).tolist(), "tpr": tpr.round(4).tolist()}

    # A resample counts for the macro only if every label defined on test is
    # defined in it, so each macro value averages the same labels.
    macro_boot = boot[:, defined].mean(axis=1) if defined else np.full(len(boot), math.nan)
    auprcs = [per_label[label_names[i]]["auprc"] for i in defined]
    macro = {"auroc": macro_auroc(aurocs), **_ci(macro_boot), "n_labels": len(defined)}
    macro["auprc"] = float(np.mean(auprcs)) if auprcs else math.nan
    macro["published"] = dict(PUBLISHED_MACRO) if published else None
    return {
        "labels": list(label_names),
        "n_test_images": len(test_probs),
        "n_test_patients": int(np.unique(test_patients).size),
        "n_val_images": len(val_probs),
        "bootstrap": {
            "unit": "patient",
            "num_resamples": num_bootstrap,
            "seed": seed,
            "ci_level": CI_LEVEL,
        },
        "official_test": bool(official_test),
        "macro": macro,
        "per_label": per_label,
        "roc_curves": roc_curves,
    }


def resample_patients(num_patients, num_resamples, rng):
    """Draws patients with replacement: how often each patient is drawn, per resample.

    Args:
        num_patients: P, the number of patients; each resample draws P.
        num_resamples: B, the number of resamples.
        rng: A `numpy.random.Generator`.

    Returns:
        Int counts (B, P); a resample holds every image of patient j counts[b, j] times.
    """
    return rng.multinomial(num_patients, np.full(num_patients, 1.0 / num_patients), num_resamples)


def weighted_auroc(scores, labels, counts, groups=None):
    """AUROC for many weightings of one label's images at once (Mann-Whitney U).

    Row b weights image i by `counts[b, groups[i]]`; with integer weights this
    is the AUROC of the data set holding each image that many times:
    P(a positive scores higher than a negative), ties counting half.

    Args:
        scores: Scores (N,).
        labels: 0/1 labels (N,).
        counts: Non-negative integer weights (B, G), e.g. how often a
            bootstrap resample draws each patient.
        groups: Group (patient) index in [0, G) of each image (N,); None
            means G = N and image i has weight counts[b, i].

    Returns:
        AUROCs (B,) as float64; NaN where the weighted data has no positive or
        no negative.
    """
    scores, positive = np.asarray(scores), np.asarray(labels) > 0.5
    groups = np.arange(len(scores)) if groups is None else np.asarray(groups)
    neg_order = np.argsort(scores[~positive], kind="stable")
    neg_scores = scores[~positive][neg_order]
    # Weighted count of negatives among the k lowest-scoring ones, k = 0..N_neg.
    # int32 is exact and ~3x faster than float64 here: a row sums to at most
    # sum_g counts[b, g] * (images of group g), far below 2**31 for any data set.
    cum = np.zeros((len(counts), neg_scores.size + 1), np.int32)
    np.cumsum(counts[:, groups[~positive][neg_order]], axis=1, out=cum[:, 1:])
    # Per positive: negatives strictly below it, and those tied with it (count half).
    below = np.searchsorted(neg_scores, scores[positive], side="left")
    not_above = np.searchsorted(neg_scores, scores[positive], side="right")
    pos_weights = counts[:, groups[positive]]
    twice_u = np.einsum(
        "bi,bi->b", pos_weights, cum[:, below] + cum[:, not_above], dtype=np.float64
    )
    u = twice_u / 2
    n_pos, n_neg = pos_weights.sum(axis=1, dtype=np.float64), cum[:, -1].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = u / (n_pos * n_neg)
    auc[(n_pos == 0) | (n_neg == 0)] = math.nan
    return auc


def bootstrap_aurocs(probs, labels, patients, num_bootstrap=1000, seed=0):
    """Per-label AUROCs of patient-level bootstrap resamples.

    Each resample draws as many patients as the split has, with replacement,
    and takes all images of each drawn patient (`resample_patients`).

    Args:
        probs: Scores (N, L).
        labels: 0/1 labels (N, L).
        patients: Patient id of each image (N,).
        num_bootstrap: Number of resamples; 1000.
        seed: Seed of the random generator; 0.

    Returns:
        AUROCs (num_bootstrap, L); NaN where a resample lacks a class (or the
        label lacks one on the whole split: then all its resamples do).
    """
    probs, labels = np.asarray(probs, np.float64), np.asarray(labels)
    _, patient_index = np.unique(np.asarray(patients), return_inverse=True)
    patient_index = patient_index.ravel()
    num_patients = int(patient_index.max()) + 1 if patient_index.size else 0
    rng = np.random.default_rng(seed)
    out = np.full((num_bootstrap, probs.shape[1]), math.nan)
    for start in range(0, num_bootstrap, _CHUNK):
        n = min(_CHUNK, num_bootstrap - start)
        counts = resample_patients(num_patients, n, rng).astype(np.int32)
        for column in range(probs.shape[1]):
            if 0 < labels[:, column].sum() < len(labels):
                out[start : start + n, column] = weighted_auroc(
                    probs[:, column], labels[:, column], counts, patient_index
                )
    return out


def _ci(values):
    """Percentile CI of the finite values, and how many there were."""
    valid = values[np.isfinite(values)]
    if not valid.size:
        return {"ci_low": math.nan, "ci_high": math.nan, "n_valid_resamples": 0}
    tail = 100 * (1 - CI_LEVEL) / 2
    low, high = np.percentile(valid, [tail, 100 - tail])
    return {"ci_low": float(low), "ci_high": float(high), "n_valid_resamples": int(valid.size)}


def _degenerate(y, split):
    """Why AUROC/thresholds are undefined for labels `y` of `split`, or None."""
    n_pos = int(np.sum(y))
    if len(y) == 0:
        return f"no image in {split}"
    if n_pos == 0:
        return f"no positive in {split}"
    if n_pos == len(y):
        return f"no negative in {split}"
    return None


def _auprc(y, p):
    # Average precision needs a positive; with no negative it is trivially 1, so NaN too.
    if not 0 < np.sum(y) < len(y):
        return math.nan
    return float(sklearn.metrics.average_precision_score(y, p))


def _operating_points(val_y, val_p, test_y, test_p):
    """Thresholds maximising F1 and Youden's J on validation, measured on test."""
    if _degenerate(val_y, "validation") is not None:
        nan_point = {"threshold": math.nan, "val_score": math.nan, "test": _rates(test_y, None)}
        return {"f1": nan_point, "youden": dict(nan_point)}
    precision, recall, thresholds = sklearn.metrics.precision_recall_curve(val_y, val_p)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    best_f1 = int(np.argmax(f1))
    fpr, tpr, roc_thresholds = sklearn.metrics.roc_curve(val_y, val_p)
    youden = np.where(np.isfinite(roc_thresholds), tpr - fpr, -np.inf)  # skip "predict none"
    best_j = int(np.argmax(youden))
    points = {}
    for key, threshold, score in [
        ("f1", thresholds[best_f1], f1[best_f1]),
        ("youden", roc_thresholds[best_j], youden[best_j]),
    ]:
        points[key] = {
            "threshold": float(threshold),
            "val_score": float(score),
            "test": _rates(test_y, test_p >= threshold),
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


def _check(probs, labels, label_names, split):
    probs, labels = np.asarray(probs, np.float64), np.asarray(labels)
    if probs.ndim != 2 or probs.shape != labels.shape or probs.shape[1] != len(label_names):
        raise ValueError(
            f"{split}: expected probs and labels of shape (N, {len(label_names)}); "
            f"got {probs.shape} and {labels.shape}"
        )
    return probs, labels
