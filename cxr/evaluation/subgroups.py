"""Subgroup audit of one split: per-label AUROC by sex, age band, view and sex x age, each
subgroup's gap to the rest of the split, and Seyyed-Kalantari et al.'s underdiagnosis.

    report = subgroups.report(test=preds, val=val_preds, num_bootstrap=1000, seed=0)

Pure numpy; `cxr.evaluation.subgroup_report` renders it, the `subgroups` evaluator runs it.
docs/protocols.md ("Subgroups" and "Underdiagnosis (Seyyed-Kalantari et al.)") states
each rule; the rules' texts in the report (`RULES`) are the same words.
"""

import dataclasses
import math

import numpy as np

from cxr.evaluation import underdiagnosis
from cxr.evaluation.classification import class_counts, valid_share_warning
from cxr.stats import bootstrap, unpaired

SEXES = ("M", "F")
VIEWS = ("PA", "AP")
# Seyyed-Kalantari et al.'s bands; each holds [low, high): their code puts ages 0-19 in
# "0-20", 20-39 in "20-40", ..., 80 and over in "80+" (NIH ages are whole years).
AGE_BANDS = ((0, 20), (20, 40), (40, 60), (60, 80), (80, math.inf))
ATTRIBUTES = ("sex", "age", "view")
RULES = {
    "age_bands": "each band holds [low, high) years: 0-20 is 0 to 19, 80+ is 80 and over",
    "unknown": "an image whose attribute is unknown (sex or view '', age NaN) is in no "
    "subgroup of that attribute; a label is scored only where it is known",
    "gap": "subgroup AUROC minus the AUROC of the rest of the split (every other image); a "
    "patient with images on both sides is left out of both (counted), so the two sides "
    "have disjoint patients and are resampled independently (cxr.stats.unpaired)",
    "withheld": "no number where a side has no positive or no negative, or fewer than 2 "
    "patients with a positive or with a negative (the paired tests' rule, "
    "cxr.stats.unpaired.withheld_reason); its counts are shown",
}


@dataclasses.dataclass
class Group:
    """One subgroup: its name (e.g. "sex=F,age=20-40"), attribute(s) and images (N,) bool."""

    name: str
    axis: str
    mask: np.ndarray


def band_name(low, high) -> str:
    """An age band's name: "20-40", and "80+" for the open one."""
    return f"{low}+" if math.isinf(high) else f"{low}-{high}"


def attributes_of(preds) -> dict:
    """The split's sex, age and view (N,) where it has them with any known value: sex and
    view as str arrays ("" unknown), age as float (NaN unknown)."""
    found = {}
    for name, values in (getattr(preds, "attributes", None) or {}).items():
        if name not in ATTRIBUTES:
            continue
        if name == "age":
            values = np.asarray(values, np.float64)
            values = np.where(values < 0, math.nan, values)  # -1: unknown, as datasets store it
            if np.isfinite(values).any():
                found[name] = values
        else:
            values = np.char.strip(np.asarray(values).astype(str))
            if (values != "").any():
                found[name] = values
    return found


def groups(attributes: dict) -> list:
    """The subgroups these attributes define: by sex, age band, view, then sex x age."""
    axes = {}
    if "sex" in attributes:
        axes["sex"] = [(f"sex={s}", attributes["sex"] == s) for s in SEXES]
    if "age" in attributes:
        age = attributes["age"]
        with np.errstate(invalid="ignore"):  # NaN: in no band
            bands = [(band_name(lo, hi), (age >= lo) & (age < hi)) for lo, hi in AGE_BANDS]
        axes["age"] = [(f"age={name}", mask) for name, mask in bands]
    if "view" in attributes:
        axes["view"] = [(f"view={v}", attributes["view"] == v) for v in VIEWS]
    out = [Group(name, axis, mask) for axis, pairs in axes.items() for name, mask in pairs]
    if "sex" in axes and "age" in axes:
        out += [
            Group(f"{sex},{age}", "sex x age", sex_mask & age_mask)
            for sex, sex_mask in axes["sex"]
            for age, age_mask in axes["age"]
        ]
    return out


def known_mask(preds) -> np.ndarray:
    """(N, L) bool: where each label is known (`Predictions.known`; None: everywhere)."""
    known = getattr(preds, "known", None)
    shape = np.shape(preds.probs)
    return np.ones(shape, bool) if known is None else np.asarray(known, bool).reshape(shape)


def patients_of(preds) -> np.ndarray:
    """Each image's patient; a dataset without patients: its image ids (each image alone)."""
    patients = preds.patient_id if preds.patient_id is not None else preds.image_id
    return np.asarray(patients).astype(str)


def auroc_row(scores, labels, patients, where, *, num_bootstrap, seed) -> dict:
    """One subgroup's AUROC of one label with its patient-bootstrap CI, counts and reason."""
    counts = class_counts(labels, patients)
    reason = unpaired.withheld_reason(labels, patients, where)
    row = {"auroc": math.nan, **bootstrap.percentile_ci([]), "warning": None}
    if reason is None:
        statistic = unpaired.auroc_statistic(scores, labels)
        row["auroc"] = unpaired.value(statistic, patients)
        boot = unpaired.resampled(statistic, patients, num_bootstrap=num_bootstrap, seed=seed)
        row.update(bootstrap.percentile_ci(boot))
        row["warning"] = valid_share_warning(row["n_valid_resamples"], num_bootstrap)
    return {**row, "reason": reason, **counts}


def gap_row(scores, labels, patients, inside, *, where, num_bootstrap, seed) -> dict:
    """The subgroup (`inside`) minus the rest of the images given: AUROCs, difference, CI.

    Patients with images on both sides are left out of both (RULES["gap"]).
    """
    mixed = np.intersect1d(patients[inside], patients[~inside])
    kept = ~np.isin(patients, mixed)
    sides = {"group": inside & kept, "rest": ~inside & kept}
    row = {"auroc_group": math.nan, "auroc_rest": math.nan, "diff": math.nan}
    row.update(bootstrap.percentile_ci([]), n_mixed_patients=int(mixed.size), warning=None)
    reason = unpaired.withheld_reason(labels[sides["group"]], patients[sides["group"]], where)
    reason = reason or unpaired.withheld_reason(
        labels[sides["rest"]], patients[sides["rest"]], "in the rest"
    )
    if reason is None:
        stats = {k: unpaired.auroc_statistic(scores[m], labels[m]) for k, m in sides.items()}
        got = unpaired.group_minus_rest(
            stats, patients, sides, num_bootstrap=num_bootstrap, seed=seed
        )
        row.update(auroc_group=got["b"], auroc_rest=got["a"], diff=got["diff"])
        row.update({k: got[k] for k in ("ci_low", "ci_high", "n_valid_resamples")})
        row["warning"] = valid_share_warning(row["n_valid_resamples"], num_bootstrap)
    return {**row, "reason": reason}


def per_label(preds, the_groups, *, num_bootstrap, seed) -> dict:
    """label -> {"all": the split's `auroc_row`, group name -> `auroc_row` with its "gap"
    (`gap_row`) and "n_unknown" (the group's images where the label is unknown)}."""
    probs, labels = np.asarray(preds.probs, np.float64), np.asarray(preds.labels)
    known, patients = known_mask(preds), patients_of(preds)
    out = {}
    for i, label in enumerate(preds.label_names):
        mine = known[:, i]
        scores, y, pats = probs[mine, i], labels[mine, i] > 0.5, patients[mine]
        settings = {"num_bootstrap": num_bootstrap, "seed": seed}
        rows = {"all": auroc_row(scores, y, pats, "in the split", **settings)}
        for group in the_groups:
            inside, where = group.mask[mine], f"in {group.name}"
            row = auroc_row(scores[inside], y[inside], pats[inside], where, **settings)
            row["n_unknown"] = int((group.mask & ~mine).sum())
            row["gap"] = gap_row(scores, y, pats, inside, where=where, **settings)
            rows[group.name] = row
        out[label] = rows
    return out


def report(*, test, val, num_bootstrap, seed) -> dict | None:
    """The subgroup audit of `test` (thresholds on `val`), or None without attributes.

    Args:
        test, val: `cxr.tracking.predictions.Predictions` of the evaluated and the
            validation split (val's probabilities and labels choose the No Finding threshold).
        num_bootstrap: Patient bootstrap resamples of every CI.
        seed: Seed of the resamples.

    Returns:
        {"dataset", "split", "val_split", "labels", "attributes" (those found),
        "num_bootstrap", "seed", "ci_level", "rules", "groups" [{name, axis, n_images,
        n_patients}], "per_label" (`per_label`), "underdiagnosis"
        (`cxr.evaluation.underdiagnosis.report`)}.
    """
    attributes = attributes_of(test)
    if not attributes:
        return None
    the_groups, patients = groups(attributes), patients_of(test)
    return {
        "dataset": test.dataset,
        "split": test.split,
        "val_split": val.split,
        "labels": list(test.label_names),
        "attributes": sorted(attributes),
        "num_bootstrap": num_bootstrap,
        "seed": seed,
        "ci_level": bootstrap.CI_LEVEL,
        "rules": RULES,
        "groups": [
            {
                "name": g.name,
                "axis": g.axis,
                "n_images": int(g.mask.sum()),
                "n_patients": int(np.unique(patients[g.mask]).size),
            }
            for g in the_groups
        ],
        "per_label": per_label(test, the_groups, num_bootstrap=num_bootstrap, seed=seed),
        "underdiagnosis": underdiagnosis.report(
            test=test, val=val, groups=the_groups, num_bootstrap=num_bootstrap, seed=seed
        ),
    }
