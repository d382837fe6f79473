"""Unpaired differences: a statistic of two groups of DIFFERENT patients, each resampled alone.

`cxr.stats.bootstrap`'s paired bootstrap draws one resample of patients and measures both
models on it, which needs both on the same images. Two groups of disjoint patients (a
subgroup against the rest of a test set, one dataset's test set against another's) have
nothing to pair: each group's patients are resampled on their own, with their own
random stream (`numpy.random.SeedSequence(seed).spawn(2)`), and resample b of the
difference is group b's resample b minus group a's. The CI is the percentile interval of
those differences (`bootstrap.percentile_ci`); resamples where either side is undefined
(NaN) are left out and counted.

A statistic is a function `(counts (B, P), groups (N,)) -> (B,)`: its value on each
resample, where `counts[b, p]` is how often resample b draws patient p and `groups[i]`
the patient index of image i (`bootstrap.patient_index`). `auroc_statistic` and
`rate_statistic` make the two cxr needs; `statistic(ones, groups)` is the value on the
group itself.

Too small to estimate (`withheld_reason`): the rule of the paired tests, with their own
words and numbers: AUROC needs a positive and a negative (`cxr.stats.auroc.undefined_reason`),
and a patient-level variance needs `cxr.stats.obuchowski.MIN_PATIENTS` patients with a
positive and as many with a negative (with one, every resample holds the same patient's
positives). Such a group keeps its counts and gets no number.
"""

import math

import numpy as np

from cxr.stats import bootstrap
from cxr.stats.auroc import undefined_reason
from cxr.stats.obuchowski import MIN_PATIENTS


def auroc_statistic(scores, labels):
    """The AUROC of one label's images as a statistic (Mann-Whitney, ties half).

    Args:
        scores: Scores (N,) of the group's images.
        labels: 0/1 labels (N,).
    """
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels)

    def statistic(counts, groups):
        return bootstrap.weighted_auroc(scores, labels, counts, groups)

    return statistic


def rate_statistic(hits, eligible):
    """The share of `eligible` images that are `hits` as a statistic, e.g. a false-positive
    rate: hits = predicted positive and truly negative, eligible = truly negative.

    Args:
        hits: 0/1 (N,), counted only where eligible.
        eligible: 0/1 (N,): the denominator's images.

    Returns:
        A statistic giving NaN on a resample without an eligible image.
    """
    eligible = np.asarray(eligible, bool)
    hits = np.asarray(hits, bool) & eligible

    def statistic(counts, groups):
        per_patient = [np.bincount(groups, w, counts.shape[1]) for w in (hits, eligible)]
        numerator, denominator = (counts @ x for x in per_patient)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denominator > 0, numerator / denominator, math.nan)

    return statistic


def value(statistic, patients) -> float:
    """The statistic on the group itself: every patient drawn once."""
    groups, num_patients = bootstrap.patient_index(patients)
    return float(statistic(np.ones((1, num_patients), np.int64), groups)[0])


def resampled(statistic, patients, *, num_bootstrap, seed):
    """The statistic on `num_bootstrap` patient resamples of one group: (B,), NaN where undefined.

    Args:
        statistic: `(counts, groups) -> (B,)`, as `auroc_statistic` makes.
        patients: Patient id of each of the group's images (N,).
        num_bootstrap: B.
        seed: An int or a `numpy.random.SeedSequence` (`bootstrap.resample_chunks`).
    """
    groups, num_patients = bootstrap.patient_index(patients)
    out = np.full(num_bootstrap, math.nan)
    if not num_patients:
        return out
    chunks = bootstrap.resample_chunks(num_patients, num_bootstrap, seed, len(groups))
    for start, counts in chunks:
        out[start : start + len(counts)] = statistic(counts, groups)
    return out


def seeds(seed):
    """The two independent random streams of groups a and b, from one seed."""
    return np.random.SeedSequence(seed).spawn(2)


def difference(statistic_a, patients_a, statistic_b, patients_b, *, num_bootstrap, seed):
    """The statistic of group b minus group a, with independent patient bootstraps.

    Args:
        statistic_a, statistic_b: Each group's statistic (`auroc_statistic`, `rate_statistic`).
        patients_a, patients_b: Each group's patient id per image; no patient in both.
        num_bootstrap: Resamples of each group.
        seed: The seed both groups' streams are spawned from (`seeds`).

    Returns:
        {"a", "b", "diff" (b - a), "ci_low", "ci_high", "n_valid_resamples"}.

    Raises:
        ValueError: when a patient is in both groups (the resamples would not be independent).
    """
    shared = np.intersect1d(np.asarray(patients_a), np.asarray(patients_b))
    if shared.size:
        raise ValueError(f"{shared.size} patients are in both groups: an unpaired bootstrap needs disjoint patients")  # fmt: skip
    seed_a, seed_b = seeds(seed)
    a = resampled(statistic_a, patients_a, num_bootstrap=num_bootstrap, seed=seed_a)
    b = resampled(statistic_b, patients_b, num_bootstrap=num_bootstrap, seed=seed_b)
    point_a, point_b = value(statistic_a, patients_a), value(statistic_b, patients_b)
    return {
        "a": point_a,
        "b": point_b,
        "diff": point_b - point_a,
        **bootstrap.percentile_ci(b - a),
    }


def withheld_reason(labels, patients, where: str) -> str | None:
    """Why a group's AUROC (or a rate over its positives and negatives) is too small to
    estimate, or None: the paired tests' rule (module docstring).

    Args:
        labels: 0/1 labels (N,) of the group's images.
        patients: Patient id of each (N,).
        where: what the group is, appended to the reason ("in sex=F").
    """
    reason = undefined_reason(labels, where)
    if reason:
        return reason
    positive, patients = np.asarray(labels) > 0.5, np.asarray(patients)
    for name, mine in (("a positive", positive), ("a negative", ~positive)):
        count = np.unique(patients[mine]).size
        if count < MIN_PATIENTS:
            return f"{count} patient with {name} {where}; an estimate needs {MIN_PATIENTS}"
    return None


def too_few_patients(patients, where: str) -> str | None:
    """Why a rate over these images (its denominator's, (N,) patient ids) is too small to
    estimate, or None: fewer than `MIN_PATIENTS` patients."""
    count = np.unique(np.asarray(patients)).size
    if count < MIN_PATIENTS:
        return f"{count} patient{'s' * (count != 1)} {where}; an estimate needs {MIN_PATIENTS}"
    return None


def group_minus_rest(stats, patients, sides, *, num_bootstrap, seed):
    """`difference` of a subgroup against the rest of a split: `stats` and `sides` map
    "group" and "rest" to each side's statistic and boolean image mask (disjoint patients)."""
    return difference(
        stats["rest"],
        patients[sides["rest"]],
        stats["group"],
        patients[sides["group"]],
        num_bootstrap=num_bootstrap,
        seed=seed,
    )
