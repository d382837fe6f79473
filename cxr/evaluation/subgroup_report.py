"""The subgroup audit (`cxr.evaluation.subgroups.report`) as files, W&B items and text.

Files in the evaluation folder: subgroups.json (the report, NaN as null), subgroups.md
(a Markdown table per label and the underdiagnosis table) and subgroups/<label>.png (a
forest plot per label). W&B, under the split's prefix (`test/subgroups/...`): the two
tables, the forest plots, and in the summary each subgroup's underdiagnosis and
overdiagnosis rate.
"""

from __future__ import annotations  # `-> Figure` without importing matplotlib

import math
import pathlib
import typing

import numpy as np

from cxr.tracking.writer import Image, Result, Table, json_safe

if typing.TYPE_CHECKING:
    from matplotlib.figure import Figure

JSON_FILE = "subgroups.json"
TABLE_FILE = "subgroups.md"
PLOTS = "subgroups"  # <label>.png, a forest plot per label
AUROC_TABLE = "subgroups/auroc_table"  # W&B keys, under the split's prefix
DIAGNOSIS_TABLE = "subgroups/diagnosis_table"
AUROC_COLUMNS = ["label", "subgroup", "auroc", "ci_low", "ci_high", "n_pos_images", "n_pos_patients"]  # fmt: skip
AUROC_COLUMNS += ["n_neg_images", "n_neg_patients", "gap", "gap_ci_low", "gap_ci_high", "reason"]
DIAGNOSIS_COLUMNS = ["subgroup", "rate", "value", "ci_low", "ci_high", "n_images", "n_patients"]
DIAGNOSIS_COLUMNS += ["gap", "gap_ci_low", "gap_ci_high", "reason"]


def plot_key(label: str) -> str:
    """W&B key of a label's forest plot."""
    return f"subgroups/forest/{label}"


def rate_key(rate: str, group: str) -> str:
    """W&B summary key of a subgroup's underdiagnosis or overdiagnosis rate."""
    return f"subgroups/{rate}/{group}"


def _ci(value, low, high, reason=None, signed=False) -> str:
    """ "0.812 [0.770, 0.850]", or "n/a" when withheld."""
    if reason or value is None or not math.isfinite(value):
        return "n/a"
    f = "{:+.3f}" if signed else "{:.3f}"
    bounds = "" if not math.isfinite(low) else f" [{f.format(low)}, {f.format(high)}]"
    return f.format(value) + bounds


def _counts(row, kind) -> str:
    return f"{row[f'n_{kind}_images']}/{row[f'n_{kind}_patients']}"


def label_table(label, rows) -> list:
    """Markdown lines of one label: a row per subgroup."""
    lines = [
        f"### {label}",
        "",
        "| subgroup | AUROC [95% CI] | pos img/pat | neg img/pat | gap to the rest [95% CI] | note |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, row in rows.items():
        gap = row.get("gap")
        gap_text = "" if gap is None else _ci(gap["diff"], gap["ci_low"], gap["ci_high"], gap["reason"], signed=True)  # fmt: skip
        notes = [row["reason"] or "", row["warning"] or ""]
        if gap is not None:
            notes += [f"gap: {gap['reason']}" if gap["reason"] else ""]
            notes += [f"{gap['n_mixed_patients']} patients on both sides left out" if gap["n_mixed_patients"] else ""]  # fmt: skip
        auroc = _ci(row["auroc"], row["ci_low"], row["ci_high"], row["reason"])
        note = "; ".join(n for n in notes if n)
        lines.append(f"| {name} | {auroc} | {_counts(row, 'pos')} | {_counts(row, 'neg')} | {gap_text} | {note} |")  # fmt: skip
    return lines


def diagnosis_table(under) -> list:
    """Markdown lines of the underdiagnosis and overdiagnosis table."""
    lines = [
        f'"No Finding" score: {under["score"]}; truth: {under["truth"]}. Threshold '
        f"{under['threshold']:.4f}: max F1 ({under['val_f1']:.3f}) on the whole validation "
        f"split ({under['n_val_images']} images, {under['n_val_no_finding']} without a finding)"
        ", shared by every subgroup.",
        "",
        "| subgroup | underdiagnosis [95% CI] | with a finding img/pat | gap [95% CI] "
        "| overdiagnosis [95% CI] | without a finding img/pat | gap [95% CI] |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    if under["reason"]:
        return [f"Not measured: {under['reason']}."]
    for name, rates in under["groups"].items():
        cells = []
        for rate in ("underdiagnosis", "overdiagnosis"):
            r = rates[rate]
            cells.append(_ci(r["rate"], r["ci_low"], r["ci_high"], r["reason"]))
            cells.append(f"{r['n_images']}/{r['n_patients']}")
            gap = r.get("gap")
            cells.append("" if gap is None else _ci(gap["diff"], gap["ci_low"], gap["ci_high"], gap["reason"], signed=True))  # fmt: skip
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def markdown(report) -> str:
    """subgroups.md: how to read it, the underdiagnosis table, a table per label."""
    ci = f"{report['ci_level']:.0%}"
    lines = [
        f"# Subgroups: {report['dataset']} {report['split']}",
        "",
        f"{ci} CIs from {report['num_bootstrap']} patient bootstrap resamples (seed "
        f"{report['seed']}). Attributes: {', '.join(report['attributes'])}.",
        "",
        *(f"- {rule}: {text}" for rule, text in report["rules"].items()),
        "",
        "## Underdiagnosis and overdiagnosis, as Seyyed-Kalantari et al. 2021 define them",
        "",
        'Our "No Finding" is a score derived from the findings, not a trained output: '
        "docs/protocols.md (Underdiagnosis) says how ours differs.",
        "",
        *diagnosis_table(report["underdiagnosis"]),
        "",
        "## AUROC per subgroup",
    ]
    for label, rows in report["per_label"].items():
        lines += ["", *label_table(label, rows)]
    return "\n".join(lines) + "\n"


def plot(label, rows, report) -> Figure:
    """A label's forest plot: each subgroup's AUROC with its CI, the whole split's as a line."""
    from matplotlib.figure import Figure  # here: seconds an import of this module need not pay

    names = list(rows)
    y = np.arange(len(names))
    value, low, high = (np.array([rows[n][k] for n in names], float) for k in ("auroc", "ci_low", "ci_high"))  # fmt: skip
    fig = Figure(figsize=(6, 0.3 * len(names) + 1.5), dpi=110)
    ax = fig.subplots()
    shown = np.isfinite(value) & np.isfinite(low)
    err = np.clip(np.stack([value - low, high - value]), 0, None)[:, shown]
    ax.errorbar(value[shown], y[shown], xerr=err, fmt="o", color="tab:blue", capsize=3)
    if math.isfinite(rows["all"]["auroc"]):
        ax.axvline(rows["all"]["auroc"], color="grey", linestyle="--", linewidth=0.8)
    ax.axvline(0.5, color="lightgrey", linewidth=0.8)
    for i in np.flatnonzero(~np.isfinite(value)):
        ax.text(0.5, i, "  n/a (too few to estimate)", va="center", fontsize=7, color="grey")
    ax.set(yticks=y, yticklabels=names, xlim=(0, 1), xlabel="AUROC")
    ax.invert_yaxis()
    ax.set_title(f"{label}: AUROC by subgroup, {report['ci_level']:.0%} patient-bootstrap CIs", fontsize=9)  # fmt: skip
    fig.set_layout_engine("tight")
    return fig


def wandb_rows(report):
    """The W&B tables' rows: (AUROC rows, diagnosis rows)."""
    auroc_rows = []
    for label, rows in report["per_label"].items():
        for name, r in rows.items():
            gap = r.get("gap") or {"diff": None, "ci_low": None, "ci_high": None}
            values = [label, name, r["auroc"], r["ci_low"], r["ci_high"], r["n_pos_images"]]
            values += [r["n_pos_patients"], r["n_neg_images"], r["n_neg_patients"]]
            auroc_rows.append(json_safe([*values, gap["diff"], gap["ci_low"], gap["ci_high"], r["reason"]]))  # fmt: skip
    diagnosis_rows = []
    for name, rates in report["underdiagnosis"]["groups"].items():
        for rate, r in rates.items():
            gap = r.get("gap") or {"diff": None, "ci_low": None, "ci_high": None}
            values = [name, rate, r["rate"], r["ci_low"], r["ci_high"], r["n_images"], r["n_patients"]]  # fmt: skip
            diagnosis_rows.append(json_safe([*values, gap["diff"], gap["ci_low"], gap["ci_high"], r["reason"]]))  # fmt: skip
    return auroc_rows, diagnosis_rows


def text(report, folder) -> str:
    """The terminal's lines: where the files are, and the underdiagnosis table."""
    under = report["underdiagnosis"]
    lines = [
        f"Subgroups ({', '.join(report['attributes'])}; {len(report['groups'])} subgroups x "
        f"{len(report['labels'])} labels): {folder / TABLE_FILE}, {folder / JSON_FILE}, "
        f"{folder / PLOTS}/<label>.png"
    ]
    if under["reason"]:
        return "\n".join([*lines, f"Underdiagnosis: not measured: {under['reason']}"])
    lines.append(f'Underdiagnosis = FPR of "No Finding" ({under["score"]}) at {under["threshold"]:.4f} (validation max F1)')  # fmt: skip
    for name, rates in under["groups"].items():
        u, o = rates["underdiagnosis"], rates["overdiagnosis"]
        lines.append(
            f"  {name:<18} under {_ci(u['rate'], u['ci_low'], u['ci_high'], u['reason']):<24} "
            f"over {_ci(o['rate'], o['ci_low'], o['ci_high'], o['reason'])}"
        )
    return "\n".join(lines)


def render(report, folder) -> Result:
    """The audit's files, W&B items and text, for `cxr.tracking.writer.write`."""
    folder = pathlib.Path(folder)
    files = {folder / JSON_FILE: report, folder / TABLE_FILE: markdown(report)}
    log = {}
    for label, rows in report["per_label"].items():
        path = folder / PLOTS / f"{label}.png"
        files[path] = plot(label, rows, report)
        log[plot_key(label)] = Image(path)
    auroc_rows, diagnosis_rows = wandb_rows(report)
    log[AUROC_TABLE] = Table(AUROC_COLUMNS, auroc_rows)
    log[DIAGNOSIS_TABLE] = Table(DIAGNOSIS_COLUMNS, diagnosis_rows)
    summary = {
        rate_key(rate, name): json_safe(r["rate"])
        for name, rates in report["underdiagnosis"]["groups"].items()
        for rate, r in rates.items()
    }
    return Result(files=files, log=log, summary=summary, text=text(report, folder))
