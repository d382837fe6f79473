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
        n_neg (images), n_pos_patients, n_neg_patients, n_unknown and
        n_val_unknown (test and validation images whose label is unknown, left
        out of every number of this label), reason (why the
        test numbers are NaN, else None), val_reason (same for the
        thresholds), n_val_pos (the validation positives the thresholds rest on),
        threshold_warning (a sentence when those are fewer than
        `thresholds.MIN_POSITIVES`, else None), published (model -> AUROC, or None), operating_points:
        {"f1"|"youden": threshold, val_score (F1 or J on validation),
        test: sensitivity, specificity, precision, f1,
        sensitivity_ci, specificity_ci ([low, high], patient bootstrap),
        sensitivity_n_valid, specificity_n_valid, sensitivity_warning,
        specificity_warning};
    "roc_curves": label -> fpr, tpr (test ROC corners to 1e-4; defined labels only).
"""

import math

import numpy as np

from cxr.evaluation import thresholds
from cxr.evaluation.thresholds import operating_thresholds  # noqa: F401  (its callers' name)
from cxr.stats import bootstrap
from cxr.stats.auroc import macro_auroc, per_label_auroc
from cxr.stats.published import OFFICIAL_TEST_IMAGES, PUBLISHED, PUBLISHED_MACRO

# Below this share of valid resamples, a macro CI says more about the resamples that
# happened to contain every label's positives than about the test set.
MIN_VALID_SHARE = 0.95


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
    test_known=None,
    val_known=None,
):
    """Evaluates test predictions, with thresholds chosen on validation; each label on
    the images where it is known (the others are counted, and left out of its numbers).

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
        test_known, val_known: (N, L), (M, L): 1 where the label is known; None: all.

    Returns:
        A JSON-serialisable dict, its keys as the module docstring lists them.
    """
    test = _split_arrays(test_probs, test_labels, label_names, "test", test_known, test_patients)
    val = _split_arrays(val_probs, val_labels, label_names, "validation", val_known)
    (test_probs, test_labels, test_patients, test_known), val_probs = test, val[0]
    aurocs = per_label_auroc(np.where(test_known, test_labels, -1), test_probs, label_names)
    boot = bootstrap.bootstrap_aurocs(
        *test[:3], num_bootstrap=num_bootstrap, seed=seed, known=test_known
    )
    comparable = official_images == OFFICIAL_TEST_IMAGES
    per_label, roc_curves = _per_label(test, val, aurocs, boot, label_names, comparable=comparable)
    thresholds.rate_cis(per_label, test, num_bootstrap, seed, valid_share_warning)
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
    (all_probs, all_labels, all_patients, known), (all_val_probs, all_val_labels, val_known) = (
        test,
        val,
    )
    per_label, roc_curves = {}, {}
    for i, name in enumerate(label_names):
        rows, val_rows = known[:, i], val_known[:, i]
        y, p, patients = all_labels[rows, i], all_probs[rows, i], all_patients[rows]
        val_labels, val_probs = all_val_labels[val_rows], all_val_probs[val_rows]
        entry = {"auroc": aurocs[name], **bootstrap.percentile_ci(boot[:, i])}
        counts = class_counts(y, patients)
        entry.update(
            auprc=_auprc(y, p),
            prevalence=counts["n_pos_images"] / len(y) if len(y) else math.nan,
            n_pos=counts["n_pos_images"],
            n_neg=counts["n_neg_images"],
            n_pos_patients=counts["n_pos_patients"],
            n_neg_patients=counts["n_neg_patients"],
            n_unknown=int((~rows).sum()),
            n_val_unknown=int((~val_rows).sum()),
            reason=thresholds.degenerate(y, "test"),
            val_reason=thresholds.degenerate(val_labels[:, i], "validation"),
            n_val_pos=int((val_labels[:, i] > 0.5).sum()),
            operating_points=thresholds.operating_points(val_labels[:, i], val_probs[:, i], y, p),
            published={k: v[name] for k, v in PUBLISHED.items()} if comparable else None,
        )
        entry["warning"] = None
        entry["threshold_warning"] = thresholds.few_positives_text(entry["n_val_pos"])
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


def _auprc(y, p):
    # Average precision needs a positive; with no negative it is trivially 1, so NaN too.
    if not 0 < np.sum(y) < len(y):
        return math.nan
    import sklearn.metrics

    return float(sklearn.metrics.average_precision_score(y, p))


def _split_arrays(probs, labels, label_names, split, known, patients=None):
    """(probs, labels, [patients,] known) of a split, checked; known all True for None."""
    probs, labels = _check(probs, labels, label_names, split)
    known = _known(known, labels)
    if patients is None:
        return probs, labels, known
    patients = np.asarray(patients)
    if patients.shape != (len(probs),):
        raise ValueError(f"test_patients must have shape ({len(probs)},)")
    return probs, labels, patients, known


def _known(known, labels) -> np.ndarray:
    """`known` as a bool array shaped like `labels`; all True for None."""
    if known is None:
        return np.ones(np.shape(labels), bool)
    known = np.asarray(known).astype(bool)
    if known.shape != np.shape(labels):
        raise ValueError(f"known has shape {known.shape}; labels {np.shape(labels)}")
    return known


def _check(probs, labels, label_names, split):
    probs, labels = np.asarray(probs, np.float64), np.asarray(labels)
    if probs.ndim != 2 or probs.shape != labels.shape or probs.shape[1] != len(label_names):
        raise ValueError(
            f"{split}: expected probs and labels of shape (N, {len(label_names)}); "
            f"got {probs.shape} and {labels.shape}"
        )
    return probs, labels
