"""The rendering of `cxr score`'s scores: a run's evaluation files, and the terminal text
(the numbers are `cxr.evaluation.score`'s)."""

import math

from cxr.tracking import writer
from cxr.tracking.rundir import EvalDir

SHOWN = 10  # unknown images named on the terminal; metrics.json lists them all


def side_by_side(by_set: dict, by_nih: dict) -> str:
    """Each label's AUROC against the set's labels and against NIH's, on the same images."""
    a, b = by_set["report"], by_nih["report"]
    name = a["input"]["label_set"]
    width = max(20, *(len(x) + 2 for x in a["labels"]))
    lines = [
        f"AUROC on the same {a['n_test_images']} test images, {name} labels beside NIH's:",
        f"{'label':<{width}}{name:>12}{'NIH':>8}",
    ]
    for label in a["labels"]:
        nih = b["per_label"].get(label, {}).get("auroc", math.nan)
        lines.append(f"{label:<{width}}{_value(a['per_label'][label]['auroc']):>12}{_value(nih):>8}")  # fmt: skip
    return "\n".join(lines)


def _value(x) -> str:
    return "n/a" if math.isnan(x) else f"{x:.3f}"


def render(scored: dict, eval_dir: EvalDir) -> writer.Result:
    """A run's evaluation files for the scored CSV, and the terminal text."""
    # Imported here: matplotlib's seconds that `cxr score --help` need not pay.
    from cxr.evaluation import classification_report

    report, test = scored["report"], scored["test"]
    result = classification_report.render(report=report, eval_dir=eval_dir)
    result.files[eval_dir.file(EvalDir.PREDICTIONS)] = EvalDir.encode_predictions(
        **test, label_names=report["labels"], dataset=report["dataset"], split=report["split"]
    )
    title = f"Scored against {report['label_source']}"
    result.text = "\n".join([title, *_input_lines(report["input"]), result.text])
    return result


def _input_lines(info) -> list[str]:
    lines = [
        f"{info['predictions']}: {info['n_rows']} rows; scored {info['n_test']} official test "
        f"images with {info['label_set']} labels; {info['n_validation']} validation images "
        "choose the operating points"
    ]
    for key, why in (
        ("not_in_nih_csv", "are not in NIH's Data_Entry CSV"),
        ("without_labels", f"have no {info['label_set']} labels"),
        ("in_neither_list", "are on neither NIH list"),
    ):
        if info[key]:
            shown = ", ".join(info[key][:SHOWN]) + (", ..." if len(info[key]) > SHOWN else "")
            lines.append(f"{len(info[key])} image(s) {why}, not scored: {shown} (all: metrics.json input.{key})")  # fmt: skip
    if info["labels_not_scored"]:
        lines.append(f"Not scored ({info['label_set']} has no such label): {', '.join(info['labels_not_scored'])}")  # fmt: skip
    if info["labels_missing"]:
        lines.append(f"No column for: {', '.join(info['labels_missing'])}")
    for finding, parts in info["combined"].items():
        score = parts[0] if len(parts) == 1 else f"max({', '.join(parts)})"
        lines.append(f"{finding}: scored as the model's {score}")
    if info["left_out"]:
        lines.append(f"Left out (no NIH label scores them): {', '.join(info['left_out'])}")
    return lines
