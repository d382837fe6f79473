"""Paired AUROC differences per subgroup (sex, age band, view, sex x age) of runs evaluated
on the same images: `cxr.evaluation.compare_paired.compare` on each subgroup's images, so
each row has the paired patient-bootstrap CI, the clustered test and the type-I rule of
the whole-split rows. Subgroups are those of `cxr.evaluation.subgroups`, from the
reference's saved attributes; a subgroup with fewer than `MIN_PATIENTS` patients gets
its counts only.
"""

import types

import numpy as np

from cxr.evaluation import compare_paired, subgroups
from cxr.stats.obuchowski import MIN_PATIENTS

PER_IMAGE = ("image_id", "patient_id", "labels", "probs")


def compare(runs, **settings) -> dict:
    """{subgroup name: {"n_images", "n_patients", "reason", "comparisons"}}, {} without attributes.

    Args:
        runs: aligned predictions (`cxr.evaluation.compare_runs.align`), the first the reference.
        settings: `compare_paired.compare`'s keyword arguments.
    """
    reference = runs[0]
    attributes = subgroups.attributes_of(types.SimpleNamespace(attributes=reference.get("attributes")))  # fmt: skip
    out = {}
    for group in subgroups.groups(attributes):
        mask = group.mask
        patients = np.asarray(reference["patient_id"]).astype(str)[mask]
        entry = {"n_images": int(mask.sum()), "n_patients": int(np.unique(patients).size)}
        entry["reason"], entry["comparisons"] = None, []
        if entry["n_patients"] < MIN_PATIENTS:
            entry["reason"] = f"{entry['n_patients']} patients; a comparison needs {MIN_PATIENTS}"
        else:
            subset = [_subset(run, mask) for run in runs]
            entry["comparisons"] = compare_paired.compare(subset, **settings)["comparisons"]
        out[group.name] = entry
    return out


def _subset(run, mask):
    """A run's predictions on the images of `mask` (known masks too, where saved)."""
    keys = [*PER_IMAGE, *(["known"] if run.get("known") is not None else [])]
    return {**run, **{k: np.asarray(run[k])[mask] for k in keys}}
