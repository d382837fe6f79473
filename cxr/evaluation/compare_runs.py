"""`make compare`: paired AUROC differences between runs evaluated on the same images.

    cxr compare RUN RUN [RUN ...] --out DIR [--num-bootstrap 1000] [--seed 0]

Each RUN is a run directory (its own evaluation, eval/, is used) or an
evaluation folder holding predictions.npz (runs/<name>/<id>/evaluations/<dataset>/<split>).
The first is the reference;
each other is compared with it, label by label and for the macro mean. A
difference is always the other run's AUROC minus the reference's. For each: a
95% CI from a paired patient bootstrap (the same resamples for both runs,
`cxr.stats.bootstrap`) and three p-values: the headline "p" from Obuchowski's
clustered test (`cxr.stats.obuchowski`, patients as clusters), the bootstrap's,
and DeLong's (`cxr.stats.delong`, images as independent). A p-value whose
measured type-I error (docs/results/type1.json, `cxr.stats.type1`) exceeds 0.06
at the label's number of positive patients is not shown; the table says why.
Every row counts its positive images and patients and its valid resamples.
The CIs and p-values are of the AUROC, which needs no threshold.
Writes DIR/compare.json and DIR/compare.png, logs a W&B run of job type
"compare" (files under DIR/wandb) and prints a table.
"""

import argparse
import math
import pathlib

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from cxr.errors import UserError, exits_cleanly
from cxr.evaluation.classification import MIN_VALID_SHARE, class_counts, valid_share_warning
from cxr.stats import bootstrap, type1
from cxr.stats.auroc import macro_auroc, per_label_auroc
from cxr.stats.delong import delong_macro_test, delong_test
from cxr.stats.obuchowski import obuchowski_macro_test, obuchowski_test
from cxr.tracking import wandb_logging, writer
from cxr.tracking.rundir import EvalDir, RunDir, slug
from cxr.tracking.writer import json_safe

JSON_FILE = "compare.json"
PLOT_FILE = "compare.png"
_HELP_RUNS = "runs/<name>/<run id> or an evaluation folder holding " + EvalDir.PREDICTIONS
COMMITTED = "committed"  # `compare`'s type1_table: read docs/results/type1.json


def load_predictions(path) -> dict:
    """One RUN's predictions (`EvalDir.read_predictions`) with its "path".

    Raises:
        UserError: when `path` is neither a run directory nor an evaluation
            folder, holds no predictions, or has non-finite probabilities.
    """
    path = pathlib.Path(path)
    folder = EvalDir(path)
    if not folder.file(EvalDir.PREDICTIONS).is_file():
        if not RunDir(path).config_file.is_file():
            raise UserError(
                f"{path} is neither a run directory (no {RunDir.CONFIG}) nor an evaluation "
                f"folder (no {EvalDir.PREDICTIONS}); pass {_HELP_RUNS}"
            )
        folder = RunDir.open(path).evaluation()
    predictions = folder.read_predictions()
    if not np.isfinite(predictions["probs"]).all():
        raise UserError(
            f"{folder.file(EvalDir.PREDICTIONS)} holds non-finite probabilities; evaluate the run again"
        )
    return {**predictions, "path": str(path)}


def align(reference: dict, other: dict) -> dict:
    """`other`'s predictions with its rows in `reference`'s image order.

    Raises:
        UserError: when the two differ in label names, image set, labels or
            patients; the one-line message says how and what to do.
    """
    ref, oth = reference["path"], other["path"]
    if other["label_names"] != reference["label_names"]:
        raise UserError(
            f"{oth} predicts labels {list(other['label_names'])}, {ref} predicts "
            f"{list(reference['label_names'])}: compare runs with the same labels"
        )
    ids, other_ids = reference["image_id"], other["image_id"]
    if not np.array_equal(ids, other_ids):
        common = np.intersect1d(ids, other_ids).size
        # Equal counts, all shared and unique: the same images, in another order.
        if not len(ids) == len(other_ids) == common == np.unique(ids).size:
            raise UserError(
                f"{oth} was evaluated on {len(other_ids)} images ({_split(other)}), {ref} on "
                f"{len(ids)} ({_split(reference)}), {common} of them shared: evaluate both on "
                f"the same images, e.g. make evaluate RUN=<run> DATA={reference['dataset']} "
                f"SPLIT={reference['split']}"
            )
        order = np.argsort(other_ids)[np.searchsorted(np.sort(other_ids), ids)]
        other = {**other, **{k: other[k][order] for k in ("image_id", "patient_id", "labels", "probs")}}  # fmt: skip
    for key, what in (("labels", "labels"), ("patient_id", "patient ids")):
        # As strings: one run may store patient ids as ints, another as text.
        mismatch = reference[key].astype(str) != other[key].astype(str)
        differ = int(mismatch.reshape(len(ids), -1).any(axis=1).sum())
        if differ:
            raise UserError(
                f"{oth} and {ref} have the same images but different {what} for {differ} of "
                f"them ({_split(other)} vs {_split(reference)}): evaluate both on the same "
                "dataset version"
            )
    return other


def compare(runs, *, num_bootstrap=1000, seed=0, type1_table=COMMITTED) -> dict:
    """Compares runs[1:] with runs[0] on the same images.

    Args:
        runs: Predictions from `load_predictions`, runs[1:] passed through `align`.
        num_bootstrap: Patient bootstrap resamples; 1000.
        seed: Seed of the resamples; 0.
        type1_table: The measured type-I errors that decide which p-values are
            shown (`cxr.stats.type1.withheld`): `COMMITTED` reads the committed
            table, None withholds nothing.

    Returns:
        A dict: "reference" and "runs" (paths), "labels", "dataset", "split",
        "n_images", "n_patients", "difference", "bootstrap" (unit, num_resamples,
        seed, ci_level, p_value), "p_value" (which test is the headline "p"),
        "type1" (the table's file and rule), "comparisons": one per runs[1:]:
        "run", "per_label" (label -> `_entry`'s keys) and "macro" (the same
        and n_labels, fewest_positive_label). NaN where undefined or withheld.
    """
    reference, names = runs[0], list(runs[0]["label_names"])
    labels, patients = reference["labels"], reference["patient_id"]
    table = type1.load_table() if type1_table is COMMITTED else type1_table
    aurocs = [per_label_auroc(labels, run["probs"], names) for run in runs]
    boot = bootstrap.paired_bootstrap_aurocs(
        [run["probs"] for run in runs], labels, patients, num_bootstrap=num_bootstrap, seed=seed
    )
    context = {
        "labels": labels,
        "patients": patients,
        "aurocs": aurocs,
        "boot": boot,
        "names": names,
        "defined": [i for i, name in enumerate(names) if not math.isnan(aurocs[0][name])],
        "counts": [class_counts(labels[:, i], patients) for i in range(len(names))],
        "table": table,
    }
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
        "comparisons": [_comparison(runs, k, context) for k in range(1, len(runs))],
    }


WITHHOLD_RULE = (
    "a test's p-value is not shown for a label when its type-I error measured at the "
    "largest simulated positive-patient count at or below the label's exceeds the max "
    "rate (or the count is below every simulated one); the macro uses its label with "
    "the fewest positive patients"
)


def _comparison(runs, k, c):
    """The comparison of runs[k] with runs[0]: per label and macro entries."""
    ref, other, labels, patients = runs[0]["probs"], runs[k]["probs"], c["labels"], c["patients"]
    per_label = {}
    for i, name in enumerate(c["names"]):
        tests = {
            "delong": delong_test(ref[:, i], other[:, i], labels[:, i]),
            "obuchowski": obuchowski_test(ref[:, i], other[:, i], labels[:, i], patients),
        }
        reason = None if i in c["defined"] else _undefined(labels[:, i])
        diffs = c["boot"][k, :, i] - c["boot"][0, :, i]
        aurocs = (c["aurocs"][0][name], c["aurocs"][k][name])
        per_label[name] = _entry(aurocs, diffs, tests, reason, c["counts"][i], c["table"])
    # A resample counts for the macro only if all labels it averages are defined in
    # it: a NaN in either run's mean makes the difference NaN, and percentile_ci skips it.
    defined, boot = c["defined"], c["boot"]
    macro_diffs = np.full(boot.shape[1], math.nan)
    if defined:
        macro_diffs = boot[k][:, defined].mean(axis=1) - boot[0][:, defined].mean(axis=1)
    tests = {
        "delong": delong_macro_test(ref, other, labels),
        "obuchowski": obuchowski_macro_test(ref, other, labels, patients),
    }
    reason = None if defined else "no label has both positives and negatives"
    # The macro's p-values are as safe as its rarest averaged label's.
    fewest = min(defined, key=lambda i: c["counts"][i]["n_pos_patients"], default=None)
    none = class_counts(np.zeros(len(labels)), patients)
    counts = none if fewest is None else c["counts"][fewest]
    aurocs = (macro_auroc(c["aurocs"][0]), macro_auroc(c["aurocs"][k]))
    macro = _entry(aurocs, macro_diffs, tests, reason, counts, c["table"])
    macro["n_labels"] = len(defined)
    macro["fewest_positive_label"] = c["names"][fewest] if fewest is not None else None
    return {"run": runs[k]["path"], "per_label": per_label, "macro": macro}


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
        bootstrap_reason, p_withheld (test -> why its p is not shown), warning
        (fewer than 95% valid resamples) and the `class_counts`.
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
        "warning": valid_share_warning(ci["n_valid_resamples"], num_bootstrap) if few else None,
        **counts,
    }


def format_table(report) -> str:
    """The report as a terminal table: per comparison, a line per label, the macro line, notes."""
    width = max(len(label) for label in [*report["labels"], "macro"])
    boot = report["bootstrap"]
    lines = [
        f"{report['n_images']} images of {report['n_patients']} patients "
        f"({report['dataset']} {report['split']}); diff = run minus reference; "
        f"{boot['ci_level']:.0%} CI from {boot['num_resamples']} paired patient bootstrap "
        "resamples (n boot: the valid ones)",
        "p: Obuchowski's clustered test (patients as clusters); p boot: the bootstrap's; "
        "p DeLong treats images as independent; pos: positive images/patients",
    ]
    if report["type1"]["file"] is None:
        lines.append("No type-I table found: every p-value is shown, none is vetted")
    for comparison in report["comparisons"]:
        lines += ["", f"run: {comparison['run']}   reference: {report['reference']}"]
        lines.append(
            f"{'label':<{width}}    ref    run  {'diff [CI]':<25}       p  p boot  p DeLong"
            "       pos  n boot"
        )
        notes = []
        rows = [*comparison["per_label"].items(), ("macro", comparison["macro"])]
        for label, e in rows:
            if e["reason"]:
                lines.append(f"{label:<{width}}  n/a ({e['reason']})")
                continue
            lines.append(_row(label, e, width, len(report["labels"])))
            notes += _notes(label, e)
        lines += notes
    return "\n".join(lines)


def _row(label, e, width, num_labels):
    ci = f"{e['diff']:+.3f} [{e['ci_low']:+.3f}, {e['ci_high']:+.3f}]"
    line = f"{label:<{width}}  {e['auroc_ref']:.3f}  {e['auroc_other']:.3f}  {ci:<25}"
    shown = [_p(e, test) for test in ("obuchowski", "bootstrap", "delong")]
    line += f"  {shown[0]:>6}  {shown[1]:>6}  {shown[2]:>8}"
    line += f"  {e['n_pos_images']:>4}/{e['n_pos_patients']:<4}  {e['n_valid_resamples']:>6}"
    if label == "macro":
        line += f"  ({e['n_labels']} of {num_labels} labels)"
    return line


def _notes(label, e):
    """Why a row's p-values are not shown, and its valid-resample warning."""
    notes = [f"  {label}: p {_NAMES[t]} not shown: {why}" for t, why in e["p_withheld"].items()]
    for test in ("obuchowski", "bootstrap", "delong"):
        if e[f"{test}_reason"]:
            notes.append(f"  {label}: p {_NAMES[test]} undefined: {e[f'{test}_reason']}")
    if label == "macro" and e["p_withheld"]:
        notes.append(f"  macro: judged by its rarest label, {e['fewest_positive_label']}")
    if e["warning"]:
        notes.append(f"  {label}: warning: {e['warning']}")
    return notes


def plot(report) -> Figure:
    """A forest plot: differences with CIs per label and macro, one panel per compared run."""
    labels = [*report["labels"], "macro"]
    y = np.arange(len(labels))
    comparisons = report["comparisons"]
    fig = Figure(figsize=(4.5 * len(comparisons) + 1.5, 0.35 * len(labels) + 1.8), dpi=120)
    axes = fig.subplots(1, len(comparisons), sharex=True, sharey=True, squeeze=False)[0]
    colors = matplotlib.colormaps["tab10"].colors
    for i, (ax, comparison) in enumerate(zip(axes, comparisons, strict=True)):
        entries = [*comparison["per_label"].values(), comparison["macro"]]
        diff, low, high = (np.array([e[k] for e in entries]) for k in ("diff", "ci_low", "ci_high"))
        # Clipped: a percentile CI can miss its point estimate, and errorbar rejects negatives.
        err = np.clip(np.stack([diff - low, high - diff]), 0, None)
        color = colors[i % len(colors)]
        ax.errorbar(diff[:-1], y[:-1], xerr=err[:, :-1], fmt="o", color=color, capsize=3)
        ax.errorbar(diff[-1:], y[-1:], xerr=err[:, -1:], fmt="D", color="black", capsize=4)
        ax.axvline(0, color="grey", linestyle="--", linewidth=0.8)
        ax.axhline(len(labels) - 1.5, color="lightgrey", linewidth=0.8)
        ax.set_xlabel("AUROC difference (run - reference)")
        ax.set_title(_shorten(comparison["run"]), fontsize=8)
    axes[0].set(yticks=y, yticklabels=labels)
    axes[0].invert_yaxis()
    ci = f"{report['bootstrap']['ci_level']:.0%}"
    fig.suptitle(f"vs {_shorten(report['reference'])}; {ci} paired patient bootstrap CIs", fontsize=9)  # fmt: skip
    fig.set_layout_engine("tight")
    return fig


def render(report, out_dir) -> writer.Result:
    """The comparison's files, W&B items and terminal text, for `cxr.tracking.writer.write`.

    Files: out_dir/compare.json (the report, NaN as null) and out_dir/compare.png
    (`plot`). W&B: `table` (a row per run and label, macro included), `forest`
    (the plot), and in the summary `macro_diff/<run>` with `_ci_low`, `_ci_high`,
    `_p_bootstrap`, `_p_delong`, `_p_obuchowski`, <run> being the run's path as a `slug`.
    """
    out_dir = pathlib.Path(out_dir)
    keys = ("auroc_ref", "auroc_other", "diff", "ci_low", "ci_high", "n_valid_resamples")
    keys += ("p_bootstrap", "p_delong", "reason", "delong_reason")
    keys += ("p_obuchowski", "obuchowski_reason", "n_pos_images", "n_pos_patients", "warning")
    rows, summary = [], {}
    for c in report["comparisons"]:
        for label, e in [*c["per_label"].items(), ("macro", c["macro"])]:
            rows.append(json_safe([c["run"], label, *(e[k] for k in keys)]))
        for key in ("diff", "ci_low", "ci_high", "p_bootstrap", "p_delong", "p_obuchowski"):
            summary[f"macro_{key}/{slug(c['run'])}"] = json_safe(c["macro"][key])
    return writer.Result(
        files={out_dir / JSON_FILE: report, out_dir / PLOT_FILE: plot(report)},
        log={
            "table": writer.Table(columns=["run", "label", *keys], rows=rows),
            "forest": writer.Image(out_dir / PLOT_FILE),
        },
        summary=summary,
        text=format_table(report),
    )


def _init_wandb(report, out_dir):
    # <experiment>/<run id> of a run directory; the tail of an evaluation folder.
    tails = ["/".join(pathlib.Path(p).parts[-2:]) for p in [report["reference"], *report["runs"]]]
    config = {k: report[k] for k in ("reference", "runs", "dataset", "split", "bootstrap")}
    name = "compare " + " vs ".join(tails)
    return wandb_logging.init_wandb(
        config=config, name=name, run_dir=out_dir, tags=("compare",), job_type="compare"
    )


def _undefined(labels):
    return "no positive on the split" if labels.sum() == 0 else "no negative on the split"


def _split(predictions):
    return f"{predictions['dataset']} {predictions['split']}"


_NAMES = {"obuchowski": "(clustered)", "bootstrap": "boot", "delong": "DeLong"}


def _p(e, test):
    """A row's p-value as text: "-" when withheld (a note says why), "n/a" when undefined."""
    if test in e["p_withheld"]:
        return "-"
    p = e[f"p_{test}"]
    if math.isnan(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _shorten(path, width=60):
    return path if len(path) <= width else "..." + path[-(width - 3) :]


@exits_cleanly
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", metavar="RUN", help=f"{_HELP_RUNS}; first: reference")
    parser.add_argument("--out", required=True, help="folder for compare.json, compare.png, wandb/")
    parser.add_argument("--num-bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if len(args.runs) < 2:
        usage = 'make compare RUNS="runs/a/<id> runs/b/<id>" OUT=<dir>'
        raise UserError(f"compare needs two runs or more, got {len(args.runs)}: {usage}")
    if args.num_bootstrap < 1:
        raise UserError(f"--num-bootstrap must be at least 1, got {args.num_bootstrap}")
    out = pathlib.Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; pass a folder")
    # Every check before the first file is written.
    runs = [load_predictions(path) for path in args.runs]
    runs = [runs[0], *(align(runs[0], run) for run in runs[1:])]
    report = compare(runs, num_bootstrap=args.num_bootstrap, seed=args.seed)
    wandb_run = _init_wandb(report, out)
    writer.write([render(report, out)], wandb_run=wandb_run, prefix="compare")
    if wandb_run is not None:
        wandb_run.finish()
    print(f"Comparison files: {out}")
