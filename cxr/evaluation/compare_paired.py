"""The paired comparison of `make compare`: runs evaluated on the same images, label by
label and for the macro mean (`cxr.evaluation.compare_runs` has the command and its
rules). A difference is always the other run's AUROC minus the reference's. For each: a
95% CI from a paired patient bootstrap (the same resamples for both runs,
`cxr.stats.bootstrap`) and three p-values: the headline "p" from Obuchowski's clustered
test (`cxr.stats.obuchowski`, patients as clusters), the bootstrap's, and DeLong's
(`cxr.stats.delong`, images as independent). A p-value whose measured type-I error
(docs/results/type1.json, `cxr.stats.type1`) exceeds 0.06 at the label's number of
positive patients is not shown.
"""

import math
import re

import numpy as np

from cxr.evaluation.classification import MIN_VALID_SHARE, class_counts, valid_share_warning
from cxr.stats import bootstrap, type1
from cxr.stats.auroc import macro_auroc, per_label_auroc, undefined_reason
from cxr.stats.delong import delong_macro_test, delong_test
from cxr.stats.obuchowski import obuchowski_macro_test, obuchowski_test

COMMITTED = "committed"  # `compare`'s type1_table: read docs/results/type1.json


def compare(
    runs, *, num_bootstrap=1000, seed=0, type1_table=COMMITTED, min_positive_patients=0
) -> dict:
    """Compares runs[1:] with runs[0] on the same images.

    Args:
        runs: Predictions from `load_predictions`, runs[1:] passed through `align`.
        num_bootstrap: Patient bootstrap resamples; 1000.
        seed: Seed of the resamples; 0.
        type1_table: The measured type-I errors that decide which p-values are
            shown (`cxr.stats.type1.withheld`): `COMMITTED` reads the committed
            table, None withholds nothing.
        min_positive_patients: The macro leaves out labels with fewer positive
            patients than this; 0 averages every label defined on the split.

    Returns:
        A dict: "reference" and "runs" (paths), "labels", "dataset", "split",
        "n_images", "n_patients", "difference", "bootstrap" (unit, num_resamples,
        seed, ci_level, p_value), "p_value" (which test is the headline "p"),
        "type1" (the table's file and rule), "min_positive_patients",
        "comparisons": one per runs[1:]: "run", "per_label" (label -> `_entry`'s
        keys) and "macro" (the same and n_labels, fewest_positive_label,
        left_out: the defined labels with fewer than min_positive_patients).
        NaN where undefined or withheld.
    """
    reference, names = runs[0], list(runs[0]["label_names"])
    labels, patients = reference["labels"], reference["patient_id"]
    table = type1.load_table() if type1_table is COMMITTED else type1_table
    context = _context(runs, table, num_bootstrap, seed, min_positive_patients)
    return {
        "reference": reference["path"],
        "runs": [run["path"] for run in runs[1:]],
        "labels": names,
        "dataset": reference["dataset"],
        "split": reference["split"],
        "n_images": len(labels),
        "n_patients": int(np.unique(patients).size),
        "difference": "run AUROC minus reference AUROC",
        "bootstrap": {
            "unit": "patient",
            "num_resamples": num_bootstrap,
            "seed": seed,
            "ci_level": bootstrap.CI_LEVEL,
            "p_value": "2 (1 + #resamples on the far side of 0) / (valid resamples + 1), at most 1",
        },
        "p_value": "p: Obuchowski's clustered test (patients as clusters), cxr.stats.obuchowski",
        "type1": {
            "file": type1.TABLE_NAME if table is not None else None,
            "max_rate": type1.MAX_RATE,
            "rule": WITHHOLD_RULE,
        },
        "min_positive_patients": min_positive_patients,
        "comparisons": [_comparison(runs, k, context) for k in range(1, len(runs))],
    }


WITHHOLD_RULE = (
    "a test's p-value is not shown for a label when its type-I error measured at the "
    "largest simulated positive-patient count at or below the label's exceeds the max "
    "rate (or the count is below every simulated one); the macro uses its label with "
    "the fewest positive patients"
)


def _context(runs, table, num_bootstrap, seed, min_positive_patients):
    """What every comparison reads: AUROCs, the paired bootstrap, counts, the macro's labels."""
    names, labels = list(runs[0]["label_names"]), runs[0]["labels"]
    patients = runs[0]["patient_id"]
    aurocs = [per_label_auroc(labels, run["probs"], names) for run in runs]
    boot = bootstrap.paired_bootstrap_aurocs(
        [run["probs"] for run in runs], labels, patients, num_bootstrap=num_bootstrap, seed=seed
    )
    counts = [class_counts(labels[:, i], patients) for i in range(len(names))]
    defined = [i for i, name in enumerate(names) if not math.isnan(aurocs[0][name])]
    return {
        "labels": labels,
        "patients": patients,
        "aurocs": aurocs,
        "boot": boot,
        "names": names,
        "defined": defined,
        # The macro's labels: defined, and with enough positive patients.
        "averaged": [i for i in defined if counts[i]["n_pos_patients"] >= min_positive_patients],
        "counts": counts,
        "table": table,
    }


def _comparison(runs, k, c):
    """The comparison of runs[k] with runs[0]: per label and macro entries."""
    ref, other, labels, patients = runs[0]["probs"], runs[k]["probs"], c["labels"], c["patients"]
    per_label = {}
    for i, name in enumerate(c["names"]):
        tests = {
            "delong": delong_test(ref[:, i], other[:, i], labels[:, i]),
            "obuchowski": obuchowski_test(ref[:, i], other[:, i], labels[:, i], patients),
        }
        reason = None if i in c["defined"] else undefined_reason(labels[:, i], "on the split")
        diffs = c["boot"][k, :, i] - c["boot"][0, :, i]
        aurocs = (c["aurocs"][0][name], c["aurocs"][k][name])
        per_label[name] = _entry(aurocs, diffs, tests, reason, c["counts"][i], c["table"])
    return {"run": runs[k]["path"], "per_label": per_label, "macro": _macro(runs, k, c)}


def _macro(runs, k, c):
    """The macro entry of runs[k] against runs[0]: the mean over the `averaged` labels."""
    averaged, boot, names = c["averaged"], c["boot"], c["names"]
    ref, other = runs[0]["probs"][:, averaged], runs[k]["probs"][:, averaged]
    labels, patients = c["labels"][:, averaged], c["patients"]
    # A resample counts for the macro only if all labels it averages are defined in
    # it: a NaN in either run's mean makes the difference NaN, and percentile_ci skips it.
    macro_diffs = np.full(boot.shape[1], math.nan)
    if averaged:
        macro_diffs = boot[k][:, averaged].mean(axis=1) - boot[0][:, averaged].mean(axis=1)
    tests = {
        "delong": delong_macro_test(ref, other, labels),
        "obuchowski": obuchowski_macro_test(ref, other, labels, patients),
    }
    for test in tests.values():  # the tests number the columns they were given
        test["reason"] = _named(test["reason"], [names[i] for i in averaged])
    reason = None if averaged else "no label has both positives and negatives"
    if c["defined"] and not averaged:
        reason = "every label has too few positive patients (--min-positive-patients)"
    # The macro's p-values are as safe as its rarest averaged label's.
    fewest = min(averaged, key=lambda i: c["counts"][i]["n_pos_patients"], default=None)
    none = class_counts(np.zeros(len(labels)), patients)
    counts = none if fewest is None else c["counts"][fewest]
    aurocs = [{names[i]: c["aurocs"][run][names[i]] for i in averaged} for run in (0, k)]
    macro = _entry([macro_auroc(a) for a in aurocs], macro_diffs, tests, reason, counts, c["table"])
    macro["n_labels"] = len(averaged)
    macro["fewest_positive_label"] = names[fewest] if fewest is not None else None
    macro["left_out"] = [names[i] for i in c["defined"] if i not in averaged]
    return macro


def _named(reason, names):
    """A test's reason with "label column j" (of the columns it was given) as the label's name."""
    if reason is None:
        return None
    return re.sub(r"label column (\d+)", lambda m: names[int(m.group(1))], reason)


def _entry(aurocs, diffs, tests, reason, counts, table):
    """One row: AUROCs, the bootstrap CI and the three p-values, counts and warnings.

    Args:
        aurocs: (reference AUROC, other run's AUROC).
        diffs: Bootstrap differences (B,), NaN for invalid resamples.
        tests: {"delong", "obuchowski"}: the tests' dicts (`cxr.stats.delong.result`).
        reason: Why the row is undefined, else None.
        counts: `class_counts` of the row's label (for the macro, its rarest label's).
        table: The type-I table, or None.

    Returns:
        auroc_ref, auroc_other, diff, ci_low, ci_high, n_valid_resamples, p
        (the headline, Obuchowski's), p_obuchowski, obuchowski_se, p_bootstrap,
        delong_se, p_delong, reason, delong_reason, obuchowski_reason,
        bootstrap_reason, p_withheld (test -> why its p is not shown),
        type1_measured_at (the simulated positive-patient count that judged the
        p-values, None when below every one or without a table) and type1_rates
        (test -> its measured type-I error there, or None), warning (fewer than
        95% valid resamples) and the `class_counts`.
    """
    ci = bootstrap.percentile_ci(diffs)
    p = {
        "obuchowski": tests["obuchowski"]["p"],
        "bootstrap": bootstrap.bootstrap_p_value(diffs),
        "delong": tests["delong"]["p"],
    }
    boot_reason = None
    if math.isnan(p["bootstrap"]) and ci["n_valid_resamples"]:
        boot_reason = "zero variance: every resample gives the same nonzero difference"
    withheld = {}
    for test, value in p.items():
        why = None if math.isnan(value) else type1.withheld(test, counts["n_pos_patients"], table)
        if why:
            withheld[test], p[test] = why, math.nan
    row = None if table is None else type1.measured_row(counts["n_pos_patients"], table)
    num_bootstrap = len(diffs)
    few = reason is None and ci["n_valid_resamples"] < MIN_VALID_SHARE * num_bootstrap
    return {
        "auroc_ref": aurocs[0],
        "auroc_other": aurocs[1],
        "diff": aurocs[1] - aurocs[0],
        **ci,
        "p": p["obuchowski"],
        "p_obuchowski": p["obuchowski"],
        "obuchowski_se": tests["obuchowski"]["se"],
        "p_bootstrap": p["bootstrap"],
        "delong_se": tests["delong"]["se"],
        "p_delong": p["delong"],
        "reason": reason,
        "delong_reason": tests["delong"]["reason"],
        "obuchowski_reason": tests["obuchowski"]["reason"],
        "bootstrap_reason": boot_reason,
        "p_withheld": withheld,
        "type1_measured_at": None if row is None else row["positive_patients"],
        "type1_rates": None if row is None else {t: row[t]["rate"] for t in type1.TESTS},
        "warning": valid_share_warning(ci["n_valid_resamples"], num_bootstrap) if few else None,
        **counts,
    }
