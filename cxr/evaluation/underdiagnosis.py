"""Underdiagnosis and overdiagnosis per subgroup, as Seyyed-Kalantari et al. (Nature
Medicine 2021) measure them, on a model that has no "No Finding" output.

- "No Finding" score of an image: 1 - the highest probability of the model's findings.
- "No Finding" truth: no known positive among the image's labels; unknown where no label
  is positive and some is unknown (the image is then left out).
- One threshold: the one maximising F1 of "No Finding" on the whole validation split
  (`cxr.evaluation.classification.operating_thresholds`, the precision-recall curve's
  best point, as the authors' code picks it); an image is called "No Finding" when its
  score is at or above it. All subgroups share it.
- Underdiagnosis of a subgroup: the false-positive rate of "No Finding" there, i.e. of its
  images with a finding, the share called "No Finding". Overdiagnosis: the false-negative
  rate, of its images without a finding, the share not called "No Finding". Images, not
  patients, are counted, as theirs are; CIs resample patients within the subgroup.
- The gap: the subgroup's rate minus the rest of the split's, patients on both sides
  left out of both, independent patient bootstraps (`cxr.stats.unpaired`).
"""

import math

import numpy as np

from cxr.evaluation.classification import operating_thresholds, valid_share_warning
from cxr.stats import bootstrap, unpaired

SCORE = "1 - max over the model's findings"
TRUTH = "no known positive among the image's labels"
RATES = {  # name -> (what is counted, among which images), on "No Finding" calls
    "underdiagnosis": ("called No Finding", "with a finding"),
    "overdiagnosis": ("not called No Finding", "without a finding"),
}


def no_finding(preds):
    """(score (N,), truth (N,) bool, known (N,) bool) of "No Finding" (module docstring)."""
    probs = np.asarray(preds.probs, np.float64)
    known = getattr(preds, "known", None)
    known = np.ones(probs.shape, bool) if known is None else np.asarray(known, bool)
    positive = (np.asarray(preds.labels) > 0.5) & known
    score = 1.0 - probs.max(axis=1)
    return score, ~positive.any(axis=1), known.all(axis=1) | positive.any(axis=1)


def choose_threshold(val) -> dict:
    """The validation max-F1 threshold of "No Finding": {threshold, val_f1, n_val_images,
    n_val_no_finding}; threshold NaN when validation lacks images with or without a finding."""
    score, truth, known = no_finding(val)
    score, truth = score[known], truth[known]
    threshold = float(operating_thresholds(score[:, None], truth[:, None], "f1")[0])
    called = score >= threshold
    tp, fp, fn = (int(np.sum(a & b)) for a, b in ((called, truth), (called, ~truth), (~called, truth)))  # fmt: skip
    f1 = 2 * tp / (2 * tp + fp + fn) if math.isfinite(threshold) else math.nan
    return {
        "threshold": threshold,
        "val_f1": f1,
        "n_val_images": int(truth.size),
        "n_val_no_finding": int(truth.sum()),
    }


def rate_row(hits, eligible, patients, where, *, num_bootstrap, seed) -> dict:
    """A rate (hits among eligible images) with its patient-bootstrap CI and counts."""
    row = {"rate": math.nan, **bootstrap.percentile_ci([]), "warning": None}
    row["n_images"] = int(eligible.sum())
    row["n_patients"] = int(np.unique(patients[eligible]).size)
    row["n_hits"] = int((hits & eligible).sum())
    row["reason"] = unpaired.too_few_patients(patients[eligible], where)
    if row["reason"] is None:
        statistic = unpaired.rate_statistic(hits, eligible)
        row["rate"] = unpaired.value(statistic, patients)
        boot = unpaired.resampled(statistic, patients, num_bootstrap=num_bootstrap, seed=seed)
        row.update(bootstrap.percentile_ci(boot))
        row["warning"] = valid_share_warning(row["n_valid_resamples"], num_bootstrap)
    return row


def gap_row(hits, eligible, patients, inside, where, *, num_bootstrap, seed) -> dict:
    """The subgroup's rate minus the rest's, mixed patients left out of both sides."""
    mixed = np.intersect1d(patients[inside], patients[~inside])
    kept = ~np.isin(patients, mixed)
    sides = {"group": inside & kept, "rest": ~inside & kept}
    row = {"diff": math.nan, **bootstrap.percentile_ci([]), "n_mixed_patients": int(mixed.size)}
    row["reason"] = unpaired.too_few_patients(patients[sides["group"] & eligible], where)
    row["reason"] = row["reason"] or unpaired.too_few_patients(
        patients[sides["rest"] & eligible], "in the rest"
    )
    if row["reason"] is None:
        stats = {k: unpaired.rate_statistic(hits[m], eligible[m]) for k, m in sides.items()}
        got = unpaired.group_minus_rest(
            stats, patients, sides, num_bootstrap=num_bootstrap, seed=seed
        )
        row.update({k: got[k] for k in ("diff", "ci_low", "ci_high", "n_valid_resamples")})
    return row


def report(*, test, val, groups, num_bootstrap, seed) -> dict:
    """Underdiagnosis and overdiagnosis of the whole split ("all") and of each group.

    Args:
        test, val: Predictions of the evaluated split and of validation.
        groups: `cxr.evaluation.subgroups.Group`s of `test`'s images.
        num_bootstrap, seed: the patient bootstrap's.

    Returns:
        {"score", "truth", "threshold", "val_f1", "n_val_images", "n_val_no_finding",
        "n_unknown" (test images whose No Finding truth is unknown), "reason" (why there is
        no threshold, else None), "groups": name -> {"underdiagnosis", "overdiagnosis"}:
        each `rate_row` with its "gap" (`gap_row`; none for "all")}.
    """
    chosen = choose_threshold(val)
    score, truth, known = no_finding(test)
    patients = np.asarray(test.patient_id if test.patient_id is not None else test.image_id)
    patients = patients.astype(str)[known]
    score, truth = score[known], truth[known]
    reason = None
    if not math.isfinite(chosen["threshold"]):
        reason = f"no threshold: validation ({val.split}) needs images with and without a finding"
    called = score >= chosen["threshold"]  # all False under a NaN threshold: rows are withheld
    cases = {"underdiagnosis": (called, ~truth), "overdiagnosis": (~called, truth)}
    settings = {"num_bootstrap": num_bootstrap, "seed": seed}
    rows = {}
    for name, mask in [("all", np.ones(len(score), bool)), *((g.name, g.mask[known]) for g in groups)]:  # fmt: skip
        rows[name] = {}
        for rate, (hits, eligible) in cases.items():
            where = f"{RATES[rate][1]} in {name}"
            row = rate_row(hits[mask], eligible[mask], patients[mask], where, **settings)
            if name != "all":
                row["gap"] = gap_row(hits, eligible, patients, mask, where, **settings)
            if reason:
                row.update(rate=math.nan, ci_low=math.nan, ci_high=math.nan, reason=reason)
            rows[name][rate] = row
    return {
        "score": SCORE,
        "truth": TRUTH,
        **chosen,
        "n_unknown": int((~known).sum()),
        "reason": reason,
        "groups": rows,
    }
