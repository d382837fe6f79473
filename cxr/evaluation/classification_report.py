"""The classification report (`cxr.evaluation.classification.report`) as files, W&B items and text.

    result = report.render(report=the_report, eval_dir=run.evaluation())
    writer.write([result], wandb_run=run)

Undefined values (a label without positives, say) are null in the JSON, empty
in the CSV and "n/a (reason)" on the terminal.
"""

import csv
import io
import math
import re

import matplotlib
import numpy as np

# Figures are made without pyplot: savefig then renders PNGs with Agg, and the
# caller's pyplot backend (a notebook's, say) is left alone.
from matplotlib.figure import Figure

from cxr.stats.published import PUBLISHED
from cxr.tracking.rundir import EvalDir
from cxr.tracking.writer import Image, Result, Table

# The per-label entries that are single values, in table column order.
_ROW_KEYS = ("auroc", "ci_low", "ci_high", "n_valid_resamples", "auprc", "prevalence")
_ROW_KEYS += ("n_pos", "n_neg", "reason", "val_reason")
_ROW_KEYS += ("n_pos_patients", "n_neg_patients", "warning")  # after the old ones: CSV readers
_RATES = ("sensitivity", "specificity", "precision", "f1")
# Images left out of a label's numbers because the label is unknown there; the CSV's last
# columns (0 in reports written before they existed).
_UNKNOWN_KEYS = ("n_unknown", "n_val_unknown")
_DPI = 120
# Each operating point's rule in words, as captions and tables name it.
POINT_RULES = {"f1": "max F1", "youden": "max Youden's J"}
# W&B keys of `render`'s items, below the split's prefix (`cxr.tracking.writer.wandb_key`).
TABLE = "per_label"
ROC_PLOT = "roc"
AUROC_PLOT = "auroc_ci"
MACRO_AUROC = "macro_auroc"


def auroc_key(label):
    """W&B summary key of a label's test AUROC."""
    return f"auroc/{label}"


def render(*, report, eval_dir: EvalDir) -> Result:
    """The files, W&B items and text of a report.

    Files: metrics.json (the whole report, NaN as null), per_label.csv (one row per
    label), roc.png (every test ROC curve) and auroc.png (AUROC with CI per label,
    published numbers as markers when comparable). W&B: the table `per_label`, the
    two plots, and in the summary `macro_auroc` (with `_ci_low`, `_ci_high`),
    `macro_auprc` and `auroc/<Label>`.
    """
    columns, rows = table(report)
    csv_text = io.StringIO()
    writer = csv.writer(csv_text)
    writer.writerow(columns)
    writer.writerows([["" if _missing(v) else v for v in row] for row in rows])
    roc, aurocs = eval_dir.file(EvalDir.ROC), eval_dir.file(EvalDir.AUROC)
    macro = report["macro"]
    summary = {
        MACRO_AUROC: macro["auroc"],
        f"{MACRO_AUROC}_ci_low": macro["ci_low"],
        f"{MACRO_AUROC}_ci_high": macro["ci_high"],
        "macro_auprc": macro["auprc"],
        **{auroc_key(label): e["auroc"] for label, e in report["per_label"].items()},
    }
    return Result(
        files={
            eval_dir.file(EvalDir.METRICS): report,
            eval_dir.file(EvalDir.PER_LABEL): csv_text.getvalue(),
            roc: _plot_roc(report),
            aurocs: _plot_aurocs(report),
        },
        log={
            TABLE: Table(columns, rows),
            ROC_PLOT: Image(roc),
            AUROC_PLOT: Image(aurocs),
        },
        summary=summary,
        text=format_report(report),
    )


def format_report(report):
    """A compact terminal table: per label AUROC [CI], AUPRC, prevalence, positive images and
    patients, valid resamples, published numbers when comparable; the macro line, and the
    lines saying how far to trust them."""
    names = list(PUBLISHED) if report["comparable"] else []
    width = max(len(label) for label in [*report["labels"], "macro"])
    boot = report["bootstrap"]
    lines = [
        f"Test: {report['n_test_images']} images of {report['n_test_patients']} patients; "
        f"{boot['ci_level']:.0%} CI from {boot['num_resamples']} patient bootstrap resamples "
        "(n boot: the valid ones; pos: positive images/patients)",
        f"{'label':<{width}}  {'AUROC [CI]':<21}  AUPRC  prev.       pos  n boot  "
        + "  ".join(names),
    ]
    notes = []
    for label, entry in report["per_label"].items():
        if entry["reason"] is not None:
            lines.append(f"{label:<{width}}  n/a ({entry['reason']})")
            continue
        row = f"{label:<{width}}  {_auroc_ci(entry):<21}  {entry['auprc']:.3f}  "
        row += f"{entry['prevalence']:5.1%}  {entry['n_pos']:>4}/{entry['n_pos_patients']:<4}"
        row += f"  {entry['n_valid_resamples']:>6}"
        for name in names:
            row += f"  {entry['published'][name]:>{len(name)}.3f}"
        lines.append(row)
        notes += _row_warnings(label, entry)
    lines += _macro_lines(report, width, names)
    lines += _unknown_lines(report)
    lines += notes
    lines += [f"Assumption: {text}" for text in report.get("assumptions", [])]
    lines.append(f"Published AUROCs: {report['comparability']}")
    return "\n".join(lines)


def _unknown_lines(report):
    """One line naming, per label, the test and validation images it left out as unknown."""
    left_out = [
        f"{label} {e.get('n_unknown', 0)}/{e.get('n_val_unknown', 0)}"
        for label, e in report["per_label"].items()
        if e.get("n_unknown", 0) or e.get("n_val_unknown", 0)
    ]
    if not left_out:
        return []
    return [
        "Left out where the label is unknown (test/validation images; each label is scored "
        "on the images where it is known): " + ", ".join(left_out)
    ]


def _row_warnings(label, entry):
    """A label's warnings: its AUROC CI's and each operating point's sensitivity/specificity CI's."""
    warnings = [f"Warning: {label} AUROC: {entry['warning']}"] if entry.get("warning") else []
    if entry.get("threshold_warning"):
        warnings.append(f"Warning: {label} thresholds: {entry['threshold_warning']}")
    for point, values in entry["operating_points"].items():
        for rate in ("sensitivity", "specificity"):
            warning = values["test"].get(f"{rate}_warning")
            if warning:
                warnings.append(f"Warning: {label} {point} {rate}: {warning}")
    return warnings


def _macro_lines(report, width, names):
    macro, boot = report["macro"], report["bootstrap"]
    row = f"{'macro':<{width}}  {_auroc_ci(macro):<21}  {macro['auprc']:.3f}  "
    row += f"{'':5}  {'':9}  {macro['n_valid_resamples']:>6}"
    row += "".join(f"  {macro['published'][n]:>{len(n)}.3f}" for n in names)
    lines = [f"{row}  ({macro['n_labels']} of {len(report['labels'])} labels)"]
    n_valid, total = macro["n_valid_resamples"], boot["num_resamples"]
    if macro["warning"]:
        lines.append(f"Warning: {macro['warning']}")
    elif macro["conditional"]:
        lines.append(
            f"Macro CI from the {n_valid} of {total} resamples that hold every averaged "
            "label's positives and negatives."
        )
    return lines


def table(report):
    """Columns and one row per label, shared by the CSV and the W&B table."""
    names = list(PUBLISHED)
    columns = ["label", *_ROW_KEYS]
    for point in ("f1", "youden"):
        columns += [f"{point}_threshold", f"{point}_val_score"]
        columns += [f"{point}_test_{k}" for k in _RATES]
        for rate in ("sensitivity", "specificity"):
            columns += [f"{point}_test_{rate}_ci_low", f"{point}_test_{rate}_ci_high"]
            columns += [f"{point}_test_{rate}_n_valid", f"{point}_test_{rate}_warning"]
    columns += ["published_" + re.sub(r"\W+", "_", name).strip("_") for name in names]
    columns += list(_UNKNOWN_KEYS)
    rows = []
    for label, e in report["per_label"].items():
        row = [label] + [e[k] for k in _ROW_KEYS]
        for point in ("f1", "youden"):
            p = e["operating_points"][point]
            row += [p["threshold"], p["val_score"], *(p["test"][k] for k in _RATES)]
            for rate in ("sensitivity", "specificity"):
                row += [*p["test"][f"{rate}_ci"], p["test"][f"{rate}_n_valid"]]
                row += [p["test"][f"{rate}_warning"]]
        row += [e["published"][name] if e["published"] else None for name in names]
        row += [e.get(k, 0) for k in _UNKNOWN_KEYS]
        rows.append(row)
    return columns, rows


def _auroc_ci(entry):
    if math.isnan(entry["auroc"]):
        return "n/a"
    return f"{entry['auroc']:.3f} [{entry['ci_low']:.3f}, {entry['ci_high']:.3f}]"


def _plot_roc(report):
    fig = Figure(figsize=(7, 7), dpi=_DPI, layout="tight")
    ax = fig.subplots()
    colors = matplotlib.colormaps["tab20"].colors
    for i, (label, curve) in enumerate(report["roc_curves"].items()):
        auroc = report["per_label"][label]["auroc"]
        ax.plot(curve["fpr"], curve["tpr"], color=colors[i % 20], label=f"{label} ({auroc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8)
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title="Test ROC curves")
    ax.legend(loc="lower right", fontsize=8)
    return fig


# Below this many positive patients a percentile CI takes few distinct values (with one,
# it only says whether that patient was drawn): auroc.png marks it, as it marks a CI
# resting on fewer than 95% valid resamples (the report's warning).
FEW_POSITIVE_PATIENTS = 5
FRAGILE_COLOR = "tab:orange"
UNDEFINED_COLOR = "grey"


def auroc_rows(report):
    """What auroc.png draws per label, in order: {"label", "kind", "note"}.

    "kind" is "ci" (a point with its CI), "fragile" (the same, marked: fewer than
    `FEW_POSITIVE_PATIENTS` positive patients or a report warning) or "undefined" (no
    AUROC: a text where the point would be). "note" is the words beside a fragile or
    undefined row, else None.
    """
    rows = []
    for label in report["labels"]:
        e = report["per_label"][label]
        kind, note = "ci", None
        if math.isnan(e["auroc"]):
            kind, note = "undefined", f"undefined: {e['reason'] or 'no AUROC'}"
        elif e["n_pos_patients"] < FEW_POSITIVE_PATIENTS or e["warning"]:
            patients = e["n_pos_patients"]
            kind = "fragile"
            note = f"CI on {patients} positive patient{'s' * (patients != 1)}"
            if e["warning"]:
                note += f", {e['n_valid_resamples']} valid resamples"
        rows.append({"label": label, "kind": kind, "note": note})
    return rows


def _plot_aurocs(report):
    """Each label's test AUROC with its CI; fragile CIs and undefined labels marked."""
    labels = report["labels"]
    rows = auroc_rows(report)
    fig = Figure(figsize=(7, 0.4 * len(labels) + 1.5), dpi=_DPI, layout="tight")
    ax = fig.subplots()
    styles = {  # kind -> errorbar style and legend entry
        "ci": dict(fmt="o", color="black", label="ours (95% CI)"),
        "fragile": dict(
            fmt="o",
            color=FRAGILE_COLOR,
            mfc="white",
            linestyle="none",
            label=f"CI on < {FEW_POSITIVE_PATIENTS} positive patients or < 95% valid resamples",
        ),
    }
    for kind, style in styles.items():
        y = [i for i, row in enumerate(rows) if row["kind"] == kind]
        if not y:
            continue
        entries = [report["per_label"][labels[i]] for i in y]
        auroc = np.array([e["auroc"] for e in entries])
        low = np.array([e["ci_low"] for e in entries])
        high = np.array([e["ci_high"] for e in entries])
        # Clipped: a percentile CI can miss its point estimate, and errorbar rejects negatives.
        err = np.clip(np.nan_to_num(np.stack([auroc - low, high - auroc])), 0, None)
        bars = ax.errorbar(auroc, y, xerr=err, capsize=3, **style)
        if kind == "fragile":
            bars.lines[2][0].set_linestyle("--")  # the CI's line: dashed
    if report["comparable"]:
        entries = [report["per_label"][label] for label in labels]
        for name, marker in zip(PUBLISHED, "xs", strict=True):
            ax.plot([e["published"][name] for e in entries], range(len(labels)), marker, label=name, alpha=0.7)  # fmt: skip
    ax.set(yticks=range(len(labels)), yticklabels=labels, xlabel="Test AUROC")
    ax.set_title(f"Macro AUROC {_auroc_ci(report['macro'])}")
    ax.set_ylim(len(labels) - 0.5, -0.5)  # top down, every row clear of the frame
    ax.legend(loc="best", fontsize=7)
    # The notes, a column on the right level with their rows: clear of every point.
    notes = ax.twinx()
    notes.set(ylim=ax.get_ylim(), yticks=range(len(labels)))
    notes.set_yticklabels([row["note"] or "" for row in rows], fontsize=7)
    notes.tick_params(axis="y", length=0)
    for axis in (ax, notes):
        for tick, row in zip(axis.get_yticklabels(), rows, strict=True):
            if row["kind"] != "ci":
                tick.set_color(UNDEFINED_COLOR if row["kind"] == "undefined" else FRAGILE_COLOR)
    return fig


def _missing(value):
    return value is None or (isinstance(value, float) and not math.isfinite(value))
