"""`make compare`'s report (`cxr.evaluation.compare_runs.compare`) as files, W&B items and text.

    result = compare_report.render(report, out_dir)
    writer.write([result], wandb_run=run, prefix="compare")

The terminal table has a line per label and the macro line, then at most one note
per label: why a p-value is not shown (the label's own positive-patient count and
the measured type-I error it was judged by), why one is undefined, and a
valid-resample warning, all on one line.
"""

from __future__ import annotations  # `-> Figure` without importing matplotlib

import math
import pathlib
import typing

import numpy as np

from cxr.evaluation import compare_unpaired_report
from cxr.tracking import writer
from cxr.tracking.rundir import slug
from cxr.tracking.writer import json_safe

if typing.TYPE_CHECKING:
    from matplotlib.figure import Figure

JSON_FILE = "compare.json"
PLOT_FILE = "compare.png"
SUBGROUPS_FILE = "compare_subgroups.txt"  # paired: the table of each subgroup's images
TESTS = ("obuchowski", "bootstrap", "delong")  # in the table's column order
NAMES = {"obuchowski": "p", "bootstrap": "p boot", "delong": "p DeLong"}  # the columns


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
    else:
        lines.append(
            f"-: not shown, its test's type-I error at 0.05 measured above "
            f"{report['type1']['max_rate']:.0%} ({report['type1']['file']}); a note says at what"
        )
    if report.get("min_positive_patients"):
        lines.append(
            f"macro: labels with fewer than {report['min_positive_patients']} positive patients "
            "left out (--min-positive-patients)"
        )
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
            notes += _note(label, e, report["type1"])
        lines += notes
    return "\n".join(lines)


def _row(label, e, width, num_labels):
    ci = f"{e['diff']:+.3f} [{e['ci_low']:+.3f}, {e['ci_high']:+.3f}]"
    line = f"{label:<{width}}  {e['auroc_ref']:.3f}  {e['auroc_other']:.3f}  {ci:<25}"
    shown = [_p(e, test) for test in TESTS]
    line += f"  {shown[0]:>6}  {shown[1]:>6}  {shown[2]:>8}"
    line += f"  {e['n_pos_images']:>4}/{e['n_pos_patients']:<4}  {e['n_valid_resamples']:>6}"
    if label == "macro":
        line += f"  ({e['n_labels']} of {num_labels} labels)"
        if e.get("left_out"):
            line += f"; left out: {', '.join(e['left_out'])}"
    return line


def _note(label, e, type1):
    """At most one line: what a row's p-values and CI rest on, when something is amiss.

    E.g. "Effusion (26 positive patients): p DeLong not shown: measured type-I error
    p DeLong 8% at 10 positive patients (the largest simulated count up to 26), above 6%".
    """
    parts = []
    if e["p_withheld"]:
        parts.append(_withheld_text(e, type1))
    for test in TESTS:
        if e[f"{test}_reason"]:
            parts.append(f"{NAMES[test]} undefined: {e[f'{test}_reason']}")
    if e["warning"]:
        parts.append(f"warning: {e['warning']}")
    if not parts:
        return []
    k = e["n_pos_patients"]
    whose = f"{k} positive patient{'s' * (k != 1)}"
    if label == "macro":
        whose = f"judged by its rarest label, {e['fewest_positive_label']}: {whose}"
    return [f"  {label} ({whose}): " + "; ".join(parts)]


def _withheld_text(e, type1):
    """Which p-values are not shown and the measured rates they were judged by."""
    names = ", ".join(NAMES[t] for t in TESTS if t in e["p_withheld"])
    at = e.get("type1_measured_at")
    if at is None:  # below every simulated count: nothing measured
        return f"{names} not shown: {next(iter(e['p_withheld'].values()))}"
    rates = ", ".join(
        f"{NAMES[t]} {e['type1_rates'][t]:.0%}" for t in TESTS if t in e["p_withheld"]
    )
    k = e["n_pos_patients"]
    upto = "" if at == k else f" (the largest simulated count up to {k})"
    return (
        f"{names} not shown: measured type-I error {rates} at {at} positive patients"
        f"{upto}, above {type1['max_rate']:.0%}"
    )


def _p(e, test):
    """A row's p-value as text: "-" when withheld (a note says why), "n/a" when undefined."""
    if test in e["p_withheld"]:
        return "-"
    p = e[f"p_{test}"]
    if math.isnan(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def plot(report) -> Figure:
    """A forest plot: differences with CIs per label and macro, one panel per compared run."""
    import matplotlib  # here: seconds that `cxr compare --help` need not pay
    from matplotlib.figure import Figure

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
    if report.get("mode") == "unpaired":
        return compare_unpaired_report.render(report, out_dir, JSON_FILE)
    keys = ("auroc_ref", "auroc_other", "diff", "ci_low", "ci_high", "n_valid_resamples")
    keys += ("p_bootstrap", "p_delong", "reason", "delong_reason")
    keys += ("p_obuchowski", "obuchowski_reason", "n_pos_images", "n_pos_patients", "warning")
    rows, summary = [], {}
    for c in report["comparisons"]:
        for label, e in [*c["per_label"].items(), ("macro", c["macro"])]:
            rows.append(json_safe([c["run"], label, *(e[k] for k in keys)]))
        for key in ("diff", "ci_low", "ci_high", "p_bootstrap", "p_delong", "p_obuchowski"):
            summary[f"macro_{key}/{slug(c['run'])}"] = json_safe(c["macro"][key])
    files = {out_dir / JSON_FILE: report, out_dir / PLOT_FILE: plot(report)}
    log = {
        "table": writer.Table(columns=["run", "label", *keys], rows=rows),
        "forest": writer.Image(out_dir / PLOT_FILE),
    }
    text = format_table(report)
    if report.get("subgroups"):
        files[out_dir / SUBGROUPS_FILE] = subgroups_text(report)
        sub_rows = [
            json_safe([name, c["run"], label, *(e[k] for k in keys)])
            for name, group in report["subgroups"].items()
            for c in group["comparisons"]
            for label, e in [*c["per_label"].items(), ("macro", c["macro"])]
        ]
        log["subgroups_table"] = writer.Table(columns=["subgroup", "run", "label", *keys], rows=sub_rows)  # fmt: skip
        text += f"\nPer subgroup (sex, age, view, sex x age; the same tests): {out_dir / SUBGROUPS_FILE}"  # fmt: skip
    return writer.Result(files=files, log=log, summary=summary, text=text)


def subgroups_text(report) -> str:
    """compare_subgroups.txt: `format_table` of every subgroup's images, one after another."""
    blocks = []
    for name, group in report["subgroups"].items():
        blocks.append(f"=== {name}: {group['n_images']} images of {group['n_patients']} patients")
        if group["reason"]:
            blocks.append(f"not compared: {group['reason']}")
            continue
        split = f"{report['split']}, {name}"
        sub = {**report, **{k: group[k] for k in ("n_images", "n_patients", "comparisons")}}
        blocks.append(format_table({**sub, "split": split}))
    return "\n\n".join(blocks) + "\n"


def _shorten(path, width=60):
    return path if len(path) <= width else "..." + path[-(width - 3) :]
