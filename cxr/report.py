"""A report from `cxr.evaluate.evaluate`, on disk, in W&B and on the terminal.

    report = evaluate.evaluate(test_probs, test_labels, patients, val_probs, val_labels)
    write_report(report, run_dir / "eval")  # metrics.json, per_label.csv, roc.png, auroc.png
    log_report(wandb_run, report, run_dir / "eval")
    print(format_report(report))

Undefined values (a label without positives, say) are null in the JSON, empty
in the CSV and "n/a (reason)" on the terminal.
"""

import csv
import json
import math
import pathlib
import re

import matplotlib
import numpy as np
import wandb

# Figures are made without pyplot: savefig then renders PNGs with Agg, and the
# caller's pyplot backend (a notebook's, say) is left alone.
from matplotlib.figure import Figure

from cxr.published import PUBLISHED

REPORT_FILES = ("metrics.json", "per_label.csv", "roc.png", "auroc.png")
# The per-label entries that are single values, in table column order.
_ROW_KEYS = ("auroc", "ci_low", "ci_high", "n_valid_resamples", "auprc", "prevalence")
_ROW_KEYS += ("n_pos", "n_neg", "reason", "val_reason")


def write_report(report, out_dir):
    """Writes a report from `evaluate` as JSON, CSV and two plots.

    Args:
        report: The dict returned by `cxr.evaluate.evaluate`.
        out_dir: Folder to write into, created if missing (e.g. a run's eval/).

    Returns:
        The paths written, in `REPORT_FILES` order: metrics.json (the whole
        report, NaN as null), per_label.csv (one row per label, NaN as an
        empty cell), roc.png (all test ROC curves) and auroc.png (AUROC with
        CI per label, published numbers as markers when the report has them).
    """
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / name for name in REPORT_FILES]
    paths[0].write_text(json.dumps(json_safe(report), indent=1) + "\n")
    columns, rows = _table(report)
    with open(paths[1], "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows([["" if _missing(v) else v for v in row] for row in rows])
    _plot_roc(report, paths[2])
    _plot_aurocs(report, paths[3])
    return paths


def log_report(run, report, out_dir, prefix="test"):
    """Logs a report to W&B: per-label table, the two plots, macro AUROC in the summary.

    Logs `<prefix>/per_label` (a table with the CSV's columns), `<prefix>/roc`
    and `<prefix>/auroc_ci` (images), and sets the summary keys
    `<prefix>/macro_auroc`, `..._ci_low`, `..._ci_high`, `<prefix>/macro_auprc`
    and `<prefix>/auroc/<Label>`, as `cxr.tracking.log_test_aurocs` names them.

    Args:
        run: A W&B run, e.g. from `cxr.tracking.init_wandb`; None does nothing.
        report: The dict returned by `cxr.evaluate.evaluate`.
        out_dir: Where `write_report` wrote (or, if the plots are missing, writes) the files.
        prefix: The split the report is on; "test".
    """
    if run is None:
        return
    out_dir = pathlib.Path(out_dir)
    if not all((out_dir / name).exists() for name in REPORT_FILES):
        write_report(report, out_dir)
    columns, rows = _table(report)
    run.log(
        {
            f"{prefix}/per_label": wandb.Table(columns=columns, data=rows),
            f"{prefix}/roc": wandb.Image(str(out_dir / "roc.png")),
            f"{prefix}/auroc_ci": wandb.Image(str(out_dir / "auroc.png")),
        }
    )
    macro = report["macro"]
    run.summary[f"{prefix}/macro_auroc"] = macro["auroc"]
    run.summary[f"{prefix}/macro_auroc_ci_low"] = macro["ci_low"]
    run.summary[f"{prefix}/macro_auroc_ci_high"] = macro["ci_high"]
    run.summary[f"{prefix}/macro_auprc"] = macro["auprc"]
    for label, entry in report["per_label"].items():
        run.summary[f"{prefix}/auroc/{label}"] = entry["auroc"]


def format_report(report):
    """Formats a report as a compact terminal table.

    Args:
        report: The dict returned by `cxr.evaluate.evaluate`.

    Returns:
        A string: a header line, one line per label (AUROC [CI], AUPRC,
        prevalence, and the published AUROCs when the report has them), then
        the macro line; undefined values read "n/a (reason)".
    """
    names = list(PUBLISHED) if report["macro"]["published"] else []
    width = max(len(label) for label in [*report["labels"], "macro"])
    boot = report["bootstrap"]
    lines = [
        f"Test: {report['n_test_images']} images of {report['n_test_patients']} patients; "
        f"{boot['ci_level']:.0%} CI from {boot['num_resamples']} patient bootstrap resamples",
        f"{'label':<{width}}  {'AUROC [CI]':<21}  AUPRC  prev.  " + "  ".join(names),
    ]
    for label, entry in report["per_label"].items():
        if entry["reason"] is not None:
            lines.append(f"{label:<{width}}  n/a ({entry['reason']})")
            continue
        row = f"{label:<{width}}  {_auroc_ci(entry):<21}  {entry['auprc']:.3f}  "
        row += f"{entry['prevalence']:5.1%}"
        for name in names:
            row += f"  {entry['published'][name]:>{len(name)}.3f}"
        lines.append(row)
    macro = report["macro"]
    row = f"{'macro':<{width}}  {_auroc_ci(macro):<21}  {macro['auprc']:.3f}  "
    row += f"{'':5}" + "".join(f"  {macro['published'][n]:>{len(n)}.3f}" for n in names)
    lines.append(f"{row}  ({macro['n_labels']} of {len(report['labels'])} labels)")
    return "\n".join(lines)


def _auroc_ci(entry):
    if math.isnan(entry["auroc"]):
        return "n/a"
    return f"{entry['auroc']:.3f} [{entry['ci_low']:.3f}, {entry['ci_high']:.3f}]"


def _table(report):
    """Columns and one row per label, shared by the CSV and the W&B table."""
    names = list(PUBLISHED)
    columns = ["label", *_ROW_KEYS]
    for point in ("f1", "youden"):
        columns += [f"{point}_threshold", f"{point}_val_score"]
        columns += [f"{point}_test_{k}" for k in ("sensitivity", "specificity", "precision", "f1")]
    columns += ["published_" + re.sub(r"\W+", "_", name).strip("_") for name in names]
    rows = []
    for label, e in report["per_label"].items():
        row = [label] + [e[k] for k in _ROW_KEYS]
        for point in e["operating_points"].values():
            row += [point["threshold"], point["val_score"], *point["test"].values()]
        row += [e["published"][name] if e["published"] else None for name in names]
        rows.append(row)
    return columns, rows


def _plot_roc(report, path):
    fig = Figure(figsize=(7, 7))
    ax = fig.subplots()
    colors = matplotlib.colormaps["tab20"].colors
    for i, (label, curve) in enumerate(report["roc_curves"].items()):
        auroc = report["per_label"][label]["auroc"]
        ax.plot(curve["fpr"], curve["tpr"], color=colors[i % 20], label=f"{label} ({auroc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8)
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title="Test ROC curves")
    ax.legend(loc="lower right", fontsize=8)
    fig.savefig(path, dpi=120, bbox_inches="tight")


def _plot_aurocs(report, path):
    labels = report["labels"]
    entries = [report["per_label"][label] for label in labels]
    y = np.arange(len(labels))
    auroc = np.array([e["auroc"] for e in entries])
    low = np.array([e["ci_low"] for e in entries])
    high = np.array([e["ci_high"] for e in entries])
    # Clipped: a percentile CI can miss its point estimate, and errorbar rejects negatives.
    err = np.clip(np.stack([auroc - low, high - auroc]), 0, None)
    fig = Figure(figsize=(7, 0.4 * len(labels) + 1.5))
    ax = fig.subplots()
    ax.errorbar(auroc, y, xerr=err, fmt="o", color="black", capsize=3, label="ours (95% CI)")
    if report["macro"]["published"]:
        for name, marker in zip(PUBLISHED, "xs", strict=True):
            ax.plot([e["published"][name] for e in entries], y, marker, label=name, alpha=0.7)
    macro = report["macro"]
    ax.set(yticks=y, yticklabels=labels, xlabel="Test AUROC")
    ax.set_title(f"Macro AUROC {_auroc_ci(macro)}")
    ax.invert_yaxis()
    ax.legend(loc="best", fontsize=8)
    fig.savefig(path, dpi=120, bbox_inches="tight")


def _missing(value):
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def json_safe(value):
    """NaN/inf -> None, recursively, so the JSON file is strict JSON."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return None if _missing(value) else value
