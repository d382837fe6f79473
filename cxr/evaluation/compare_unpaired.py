"""`cxr compare --unpaired`: AUROC differences between evaluations of DIFFERENT images
(a run's own test set against another hospital's, two datasets, two splits).

Nothing pairs an image of one with an image of the other, so each evaluation's patients
are resampled on their own (`cxr.stats.unpaired`; evaluation k draws from the k-th
stream spawned from the seed, the reference from the first) and resample b of a
difference is the other's resample b minus the reference's. Per label (the labels both
predict, matched by name): both AUROCs on the images where the label is known, the
difference, its percentile CI and valid resamples, each side's positive and negative
images and patients. A side too small to estimate (`cxr.stats.unpaired.withheld_reason`)
gets no number. The macro is the mean over the labels estimated on both sides, per
resample. No p-value: the type-I error of this bootstrap was not measured
(docs/results/type1.json is the paired tests').
"""

import math

import numpy as np

from cxr.errors import UserError
from cxr.evaluation.classification import class_counts, valid_share_warning
from cxr.stats import bootstrap, unpaired

RULE = (
    "each evaluation's patients resampled alone (independent patient bootstraps); "
    "difference = run AUROC minus reference AUROC; no p-value"
)


def check_disjoint(reference: dict, other: dict) -> None:
    """Refuses two evaluations that share images or, on one dataset, patients.

    Raises:
        UserError: the same images (the paired mode is the right one), or shared
            images or patients (the two sides would not be independent).
    """
    ref, oth = reference["path"], other["path"]
    ids, other_ids = np.asarray(reference["image_id"]), np.asarray(other["image_id"])
    if set(ids) == set(other_ids):
        raise UserError(f"{oth} and {ref} were evaluated on the same {len(ids)} images: compare them paired (without --unpaired)")  # fmt: skip
    if reference["dataset"] != other["dataset"]:
        return  # ids of two datasets name different things
    shared = np.intersect1d(ids, other_ids).size
    patients = np.intersect1d(
        np.asarray(reference["patient_id"]).astype(str), np.asarray(other["patient_id"]).astype(str)
    ).size
    if shared or patients:
        raise UserError(
            f"{oth} and {ref} ({reference['dataset']}) share {shared} images and {patients} "
            "patients: an unpaired comparison needs disjoint patients; evaluate them on "
            "disjoint splits, or on the same images and compare them paired"
        )


def _known(run):
    known = run.get("known")
    return np.ones(np.shape(run["probs"]), bool) if known is None else np.asarray(known, bool)


def _side(run, label, *, num_bootstrap, seed):
    """One evaluation's AUROC of `label`: point, resamples (B,), counts, reason."""
    column = list(run["label_names"]).index(label)
    mine = _known(run)[:, column]
    patients = np.asarray(run["patient_id"]).astype(str)
    labels = np.asarray(run["labels"])[mine, column] > 0.5
    scores = np.asarray(run["probs"], np.float64)[mine, column]
    groups, _ = bootstrap.patient_index(patients)
    counts = class_counts(labels, patients[mine])
    reason = unpaired.withheld_reason(labels, patients[mine], f"in {run['path']}")
    if reason:
        return math.nan, np.full(num_bootstrap, math.nan), counts, reason

    def statistic(draws, _):  # every side's label drawn from the same patient resamples
        return bootstrap.weighted_auroc(scores, labels, draws, groups[mine])

    boot = unpaired.resampled(statistic, patients, num_bootstrap=num_bootstrap, seed=seed)
    return unpaired.value(statistic, patients), boot, counts, None


def _entry(ref, other, num_bootstrap):
    """One row from the two sides' (point, resamples, counts, reason)."""
    diffs = other[1] - ref[1]
    ci = bootstrap.percentile_ci(diffs)
    reason = ref[3] or other[3]
    return {
        "auroc_ref": ref[0],
        "auroc_other": other[0],
        "diff": other[0] - ref[0],
        **ci,
        "reason": reason,
        "warning": None
        if reason
        else valid_share_warning(ci["n_valid_resamples"], num_bootstrap),  # fmt: skip
        "ref_counts": ref[2],
        "other_counts": other[2],
    }


def compare(runs, *, num_bootstrap=1000, seed=0) -> dict:
    """Compares runs[1:] with runs[0], each on its own images.

    Args:
        runs: Predictions from `cxr.evaluation.compare_runs.load_predictions`, checked
            with `check_disjoint`.
        num_bootstrap, seed: the patient bootstraps'.

    Returns:
        {"mode": "unpaired", "reference", "runs", "difference", "bootstrap", "comparisons":
        [{"run", "labels" (shared), "not_shared", "dataset", "split", "n_images",
        "n_patients", "per_label": label -> `_entry`, "macro" (the same, with n_labels)}],
        "reference_split": {dataset, split, n_images, n_patients}}.
    """
    streams = np.random.SeedSequence(seed).spawn(len(runs))
    reference = runs[0]
    return {
        "mode": "unpaired",
        "reference": reference["path"],
        "runs": [run["path"] for run in runs[1:]],
        "difference": "run AUROC minus reference AUROC",
        "rule": RULE,
        "bootstrap": {
            "unit": "patient, each evaluation alone",
            "num_resamples": num_bootstrap,
            "seed": seed,
            "ci_level": bootstrap.CI_LEVEL,
        },  # fmt: skip
        "reference_split": _split(reference),
        "comparisons": [
            _comparison(reference, runs[k], streams[0], streams[k], num_bootstrap)
            for k in range(1, len(runs))
        ],
    }


def _split(run):
    return {
        "dataset": run["dataset"],
        "split": run["split"],
        "n_images": len(run["image_id"]),
        "n_patients": int(np.unique(np.asarray(run["patient_id"]).astype(str)).size),
    }


def _comparison(reference, other, ref_seed, other_seed, num_bootstrap):
    shared = [x for x in reference["label_names"] if x in other["label_names"]]
    if not shared:
        raise UserError(f"{other['path']} and {reference['path']} predict no label of the same name: nothing to compare")  # fmt: skip
    not_shared = sorted(set(reference["label_names"]) ^ set(other["label_names"]))
    per_label, sides = {}, {}
    for label in shared:
        sides[label] = (
            _side(reference, label, num_bootstrap=num_bootstrap, seed=ref_seed),
            _side(other, label, num_bootstrap=num_bootstrap, seed=other_seed),
        )
        per_label[label] = _entry(*sides[label], num_bootstrap)
    averaged = [x for x in shared if per_label[x]["reason"] is None]
    macro = {"auroc_ref": math.nan, "auroc_other": math.nan, "diff": math.nan}
    macro.update(bootstrap.percentile_ci([]), reason="no label estimated on both sides", warning=None)  # fmt: skip
    if averaged:
        ref_side, other_side = (
            (
                float(np.mean([sides[x][k][0] for x in averaged])),
                np.mean([sides[x][k][1] for x in averaged], axis=0),
                None,
                None,
            )
            for k in (0, 1)
        )
        macro = {k: v for k, v in _entry(ref_side, other_side, num_bootstrap).items() if "counts" not in k}  # fmt: skip
    macro.update(n_labels=len(averaged), labels=averaged)
    return {
        "run": other["path"],
        **_split(other),
        "labels": shared,
        "not_shared": not_shared,
        "per_label": per_label,
        "macro": macro,
    }
