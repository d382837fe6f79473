"""The classification report: per-label AUROC with patient-bootstrap CIs, AUPRC and
operating points chosen on validation.

`report` turns test and validation predictions into a JSON-serialisable dict;
`cxr.evaluation.classification_report` renders it as files, a W&B table and terminal text. Everything
takes plain numpy arrays.

`report`'s keys:

    "labels", "n_test_images", "n_test_patients", "n_val_images",
    "official_images", "comparable" (whether published numbers apply),
    "comparability" (a sentence saying why or why not),
    "bootstrap" (unit, num_resamples, seed, ci_level),
    "assumptions" (sentences: what the CIs leave out);
    "macro": auroc, ci_low, ci_high, n_valid_resamples, conditional
        (whether resamples were dropped for lacking a label's positive),
        warning (a sentence when fewer than `MIN_VALID_SHARE` of the
        resamples were valid, else None), n_labels (labels defined on
        test, the only ones averaged),
        auprc, published (model -> macro AUROC, or None);
    "per_label": label -> auroc, ci_low, ci_high, n_valid_resamples,
        warning (as the macro's, for this CI), auprc, prevalence, n_pos,
        n_neg (images), n_pos_patients, n_neg_patients, reason (why the
        test numbers are NaN, else None), val_reason (same for the
        thresholds), published (model -> AUROC, or None), operating_points:
        {"f1"|"youden": threshold, val_score (F1 or J on validation),
        test: sensitivity, specificity, precision, f1,
        sensitivity_ci, specificity_ci ([low, high], patient bootstrap),
        sensitivity_n_valid, specificity_n_valid, sensitivity_warning,
        specificity_warning};
    "roc_curves": label -> fpr, tpr (test ROC corners to 1e-4; defined labels only).
"""

import math

import numpy as np

from cxr.stats import bootstrap
from cxr.stats.auroc import macro_auroc, per_label_auroc, undefined_reason
from cxr.stats.published import OFFICIAL_TEST_IMAGES, PUBLISHED, PUBLISHED_MACRO

# Below this share of valid resamples, a macro CI says more about the resamples that
# happened to contain every label's positives than about the test set.
MIN_VALID_SHARE = 0.95
_POINTS = ("f1", "youden")  # the operating points, chosen on validation


ASSUMPTIONS = (
    "Sensitivity and specificity CIs resample test patients with each threshold fixed as "
    "chosen on validation: they do not include the uncertainty of choosing the threshold.",
    "Every CI resamples patients: patients are taken as independent, a patient's images not.",
    "A CI rests on its valid resamples (those holding the positives and negatives it needs); "
    "below 95% valid it is conditional on those, and a row says so.",
)


def report(
    *,
    test_probs,
    test_labels,
    test_patients,
    val_probs,
    val_labels,
    label_names,
    num_bootstrap=1000,
    seed=0,
    official_images=0,
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
        label_names: The L label names in column order.
        num_bootstrap: Number of patient-level bootstrap resamples.
        seed: Seed of the bootstrap's random generator.
        official_images: How many test images are on NIH's official test list;
            published numbers stand beside ours only for the whole list.

    Returns:
        A JSON-serialisable dict, its keys as the module docstring lists them.
    """
    test_probs, test_labels = _check(test_probs, test_labels, label_names, "test")
    val_probs, val_labels = _check(val_probs, val_labels, label_names, "validation")
    test_patients = np.asarray(test_patients)
    if test_patients.shape != (len(test_probs),):
        raise ValueError(f"test_patients must have shape ({len(test_probs)},)")

    aurocs = per_label_auroc(test_labels, test_probs, label_names)
    boot = bootstrap.bootstrap_aurocs(
        test_probs, test_labels, test_patients, num_bootstrap=num_bootstrap, seed=seed
    )
    comparable = official_images == OFFICIAL_TEST_IMAGES
    test, val = (test_probs, test_labels, test_patients), (val_probs, val_labels)
    per_label, roc_curves = _per_label(test, val, aurocs, boot, label_names, comparable=comparable)
    _rate_cis(per_label, test_labels, test_probs, test_patients, num_bootstrap, seed)
    return {
        "labels": list(label_names),
        "n_test_images": len(test_probs),
        "n_test_patients": int(np.unique(test_patients).size),
        "n_val_images": len(val_probs),
        "bootstrap": _bootstrap_settings(num_bootstrap, seed),
        "assumptions": list(ASSUMPTIONS),
        "official_images": int(official_images),
        "comparable": comparable,
        "comparability": comparability_text(official_images),
        "macro": _macro(per_label, aurocs, boot, label_names, comparable=comparable),
        "per_label": per_label,
        "roc_curves": roc_curves,
    }


def _bootstrap_settings(num_bootstrap, seed):
    return {
        "unit": "patient",
        "num_resamples": num_bootstrap,
        "seed": seed,
        "ci_level": bootstrap.CI_LEVEL,
    }


def _per_label(test, val, aurocs, boot, label_names, *, comparable):
    """Per-label entries (AUROC and its CI, counts, operating points) and test ROC curves."""
    (probs, labels, patients), (val_probs, val_labels) = test, val
    per_label, roc_curves = {}, {}
    for i, name in enumerate(label_names):
        y, p = labels[:, i], probs[:, i]
        entry = {"auroc": aurocs[name], **bootstrap.percentile_ci(boot[:, i])}
        counts = class_counts(y, patients)
        entry.update(
            auprc=_auprc(y, p),
            prevalence=counts["n_pos_images"] / len(y) if len(y) else math.nan,
            n_pos=counts["n_pos_images"],
            n_neg=counts["n_neg_images"],
            n_pos_patients=counts["n_pos_patients"],
            n_neg_patients=counts["n_neg_patients"],
            reason=_degenerate(y, "test"),
            val_reason=_degenerate(val_labels[:, i], "validation"),
            operating_points=_operating_points(val_labels[:, i], val_probs[:, i], y, p),
            published={k: v[name] for k, v in PUBLISHED.items()} if comparable else None,
        )
        entry["warning"] = None
        if entry["reason"] is None:
            entry["warning"] = valid_share_warning(entry["n_valid_resamples"], len(boot))
            import sklearn.metrics  # here, as below: 2+ s that `cxr score --help` need not pay

            # Rounded: plotting needs no more, and it halves metrics.json.
            fpr, tpr, _ = sklearn.metrics.roc_curve(y, p)
            roc_curves[name] = {"fpr": fpr.round(4).tolist(), "tpr": tpr.round(4).tolist()}
        per_label[name] = entry
    return per_label, roc_curves


def _macro(per_label, aurocs, boot, label_names, *, comparable):
    """The macro entry: mean AUROC of the labels defined on test, its CI and warning."""
    defined = [i for i, name in enumerate(label_names) if not math.isnan(aurocs[name])]
    num_bootstrap = len(boot)
    # A resample counts for the macro only if every label defined on test is
    # defined in it, so each macro value averages the same labels.
    macro_boot = boot[:, defined].mean(axis=1) if defined else np.full(num_bootstrap, math.nan)
    auprcs = [per_label[label_names[i]]["auprc"] for i in defined]
    macro = {"auroc": macro_auroc(aurocs), **bootstrap.percentile_ci(macro_boot)}
    macro["conditional"] = macro["n_valid_resamples"] < num_bootstrap
    macro["n_labels"] = len(defined)
    macro["auprc"] = float(np.mean(auprcs)) if auprcs else math.nan
    macro["published"] = dict(PUBLISHED_MACRO) if comparable else None
    few = defined and macro["n_valid_resamples"] < MIN_VALID_SHARE * num_bootstrap
    macro["warning"] = (
        low_valid_share_text(macro["n_valid_resamples"], num_bootstrap) if few else None
    )
    return macro


def class_counts(y, patients):
    """Positive and negative images and patients of one label (a patient counts in both
    when it has images of both).

    Args:
        y: 0/1 labels (N,).
        patients: Patient id of each image (N,).

    Returns:
        {"n_pos_images", "n_pos_patients", "n_neg_images", "n_neg_patients"} as ints.
    """
    positive, patients = np.asarray(y) > 0.5, np.asarray(patients)
    return {
        "n_pos_images": int(positive.sum()),
        "n_pos_patients": int(np.unique(patients[positive]).size),
        "n_neg_images": int((~positive).sum()),
        "n_neg_patients": int(np.unique(patients[~positive]).size),
    }


def valid_share_warning(n_valid, num_bootstrap):
    """A sentence when fewer than `MIN_VALID_SHARE` of the resamples were valid, else None."""
    if n_valid >= MIN_VALID_SHARE * num_bootstrap:
        return None
    return (
        f"only {n_valid} of {num_bootstrap} bootstrap resamples are valid: the CI is "
        "conditional on those; more test patients would fix it"
    )


def comparability_text(official_images):
    """Whether published AUROCs can stand beside ours, in one sentence."""
    if official_images == OFFICIAL_TEST_IMAGES:
        return (
            f"NIH's whole official test list ({OFFICIAL_TEST_IMAGES:,} images). CheXNet tested "
            "on its own random patient split, not on this list; the Wang et al. column is as "
            "CheXNet reprints it (its Table 2). Closest references, not the same test images."
        )
    return f"not comparable: {official_images:,} of {OFFICIAL_TEST_IMAGES:,} official test images"


def low_valid_share_text(n_valid, num_bootstrap):
    return (
        f"only {n_valid} of {num_bootstrap} bootstrap resamples hold a positive of every "
        "label: the macro CI is conditional on those; more test patients would fix it"
    )


def _rate_cis(per_label, labels, probs, patients, num_bootstrap, seed):
    """Adds patient-bootstrap CIs of test sensitivity and specificity at each operating point.

    The resamples are the AUROC bootstrap's own (same patients, count and seed).
    """
    groups, num_patients = bootstrap.patient_index(patients)
    names = list(per_label)
    y = labels > 0.5
    # Columns per (label, point): true positives, true negatives; per label: positives, negatives.
    columns, keys = [], []
    for i, name in enumerate(names):
        for point in _POINTS:
            threshold = per_label[name]["operating_points"][point]["threshold"]
            predicted = probs[:, i] >= threshold  # False everywhere for a NaN threshold
            columns += [predicted & y[:, i], ~predicted & ~y[:, i]]
            keys.append((name, point))
    for i in range(len(names)):
        columns += [y[:, i], ~y[:, i]]
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
                warning = valid_share_warning(ci["n_valid_resamples"], num_bootstrap)
                rates[f"{rate}_warning"] = warning if valid else None


def _degenerate(y, split):
    """Why AUROC/thresholds are undefined for labels `y` of `split`, or None."""
    if len(y) == 0:
        return f"no image in {split}"
    return undefined_reason(y, f"in {split}")


def _auprc(y, p):
    # Average precision needs a positive; with no negative it is trivially 1, so NaN too.
    if not 0 < np.sum(y) < len(y):
        return math.nan
    import sklearn.metrics

    return float(sklearn.metrics.average_precision_score(y, p))


def operating_thresholds(val_probs, val_labels, point="f1"):
    """Each label's threshold at one operating point, chosen on validation as `report` does.

    Args:
        val_probs: Validation scores (M, L).
        val_labels: Validation multi-hot labels (M, L).
        point: "f1" (max F1) or "youden" (max Youden's J).

    Returns:
        (L,) float array; NaN for a label without a positive or a negative in validation.
    """
    val_probs, val_labels = np.asarray(val_probs, np.float64), np.asarray(val_labels)
    return np.array(
        [_choose(val_labels[:, i], val_probs[:, i])[point][0] for i in range(val_probs.shape[1])],
        dtype=np.float64,
    ).reshape(-1)


def _choose(val_y, val_p):
    """{point: (threshold, validation F1 or J)} maximising F1 and Youden's J; NaN if undefined."""
    if _degenerate(val_y, "validation") is not None:
        return dict.fromkeys(_POINTS, (math.nan, math.nan))
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


def _operating_points(val_y, val_p, test_y, test_p):
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


def _check(probs, labels, label_names, split):
    probs, labels = np.asarray(probs, np.float64), np.asarray(labels)
    if probs.ndim != 2 or probs.shape != labels.shape or probs.shape[1] != len(label_names):
        raise ValueError(
            f"{split}: expected probs and labels of shape (N, {len(label_names)}); "
            f"got {probs.shape} and {labels.shape}"
        )
    return probs, labels
