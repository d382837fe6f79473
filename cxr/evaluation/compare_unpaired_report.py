"""`cxr compare --unpaired`'s report (`cxr.evaluation.compare_unpaired.compare`) as files,
W&B items and text: compare.json and a terminal table per comparison, with each side's
positive images/patients, since the two sides are different images."""

import pathlib

from cxr.tracking import writer
from cxr.tracking.rundir import slug
from cxr.tracking.writer import json_safe

KEYS = ("auroc_ref", "auroc_other", "diff", "ci_low", "ci_high", "n_valid_resamples", "reason")


def _side(split) -> str:
    return f"{split['dataset']} {split['split']}: {split['n_images']} images of {split['n_patients']} patients"  # fmt: skip


def _pos(counts) -> str:
    return "" if counts is None else f"{counts['n_pos_images']}/{counts['n_pos_patients']}"


def format_table(report) -> str:
    """A table per comparison: a line per shared label and the macro line, then notes."""
    boot = report["bootstrap"]
    lines = [
        f"UNPAIRED: different images; diff = run minus reference; {boot['ci_level']:.0%} CI "
        f"from {boot['num_resamples']} patient bootstrap resamples of each evaluation alone "
        "(n boot: the valid ones); no p-value (this bootstrap's type-I error was not measured)",
        f"reference: {report['reference']} ({_side(report['reference_split'])})",
    ]
    for c in report["comparisons"]:
        width = max(len(x) for x in [*c["labels"], "macro"])
        lines += ["", f"run: {c['run']} ({_side(c)})"]
        if c["not_shared"]:
            lines.append(f"not predicted by both, left out: {', '.join(c['not_shared'])}")
        lines.append(
            f"{'label':<{width}}    ref    run  {'diff [CI]':<25}  ref pos    run pos  n boot"
        )
        notes = []
        for label, e in [*c["per_label"].items(), ("macro", c["macro"])]:
            if e["reason"]:
                lines.append(f"{label:<{width}}  n/a ({e['reason']})")
                continue
            ci = f"{e['diff']:+.3f} [{e['ci_low']:+.3f}, {e['ci_high']:+.3f}]"
            line = f"{label:<{width}}  {e['auroc_ref']:.3f}  {e['auroc_other']:.3f}  {ci:<25}"
            line += f"  {_pos(e.get('ref_counts')):>9}  {_pos(e.get('other_counts')):>9}  {e['n_valid_resamples']:>6}"  # fmt: skip
            if label == "macro":
                line += f"  ({e['n_labels']} labels)"
            lines.append(line)
            if e["warning"]:
                notes.append(f"  {label}: warning: {e['warning']}")
        lines += notes
    return "\n".join(lines)


def render(report, out_dir, json_file) -> writer.Result:
    """compare.json, a W&B table (a row per run and label, macro included) and the
    summary's `macro_diff/<run>` with `_ci_low`, `_ci_high`; the terminal table."""
    out_dir = pathlib.Path(out_dir)
    rows, summary = [], {}
    for c in report["comparisons"]:
        for label, e in [*c["per_label"].items(), ("macro", c["macro"])]:
            counts = [e.get(f"{side}_counts") or {} for side in ("ref", "other")]
            pos = [counts[0].get("n_pos_patients"), counts[1].get("n_pos_patients")]
            rows.append(json_safe([c["run"], label, *(e[k] for k in KEYS), *pos]))
        for key in ("diff", "ci_low", "ci_high"):
            value = c["macro"][key]
            summary[f"macro_{key}/{slug(c['run'])}"] = json_safe(value)
    columns = ["run", "label", *KEYS, "ref_pos_patients", "run_pos_patients"]
    return writer.Result(
        files={out_dir / json_file: report},
        log={"unpaired_table": writer.Table(columns=columns, rows=rows)},
        summary=summary,
        text=format_table(report),
    )
