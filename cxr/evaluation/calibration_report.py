"""The calibration report of a split: measures before and after temperature scaling, the
temperatures, a reliability diagram per label; as files, W&B items and text.

    document, temperatures = calibration_report.measure(preds=preds, val=val, ...)
    result = calibration_report.render(document, temperatures, eval_dir=eval_dir)

The measures are `cxr.stats.calibration`'s, the temperatures `cxr.stats.temperature`'s,
fitted on the validation predictions the operating points are chosen on
(docs/protocols.md, "Calibration: ECE variants and temperature scaling").
"""

import math

import numpy as np

# Figures without pyplot, as classification_report: the caller's backend is left alone.
from matplotlib.figure import Figure

from cxr.evaluation import thresholds
from cxr.stats import auroc, calibration, temperature
from cxr.tracking.rundir import EvalDir
from cxr.tracking.writer import Image, Result, Table

# W&B keys of `render`'s items, below the split's prefix: test/calibration/...
PREFIX = "calibration"
TABLE = f"{PREFIX}/per_label"
STAGES = ("before", "after")  # without and with temperature scaling
_DPI = 100


def macro_key(measure, stage):
    """W&B summary key of a macro measure, e.g. calibration/macro_ece/after."""
    return f"{PREFIX}/macro_{measure}/{stage}"


def label_key(measure, stage, label):
    """W&B summary key of one label's measure, e.g. calibration/ece/after/Mass."""
    return f"{PREFIX}/{measure}/{stage}/{label}"


def temperature_key(label):
    return f"{PREFIX}/temperature/{label}"


def diagram_key(label):
    return f"{PREFIX}/reliability/{label}"


def measure(*, preds, val, num_bootstrap, seed, bins=calibration.BINS) -> tuple[dict, dict]:
    """(calibration.json's document, temperatures.json's) of `preds`, scaled by
    temperatures fitted on `val`. Labels are scored only where their truth is known."""
    names = list(preds.label_names)
    known, val_known = (getattr(x, "known", None) for x in (preds, val))
    fits = temperature.fit_labels(val.probs, val.labels, names, val_known)
    t = np.array([fits[k]["temperature"] for k in names], np.float64)
    scaled = temperature.scale(preds.probs, t)
    args = dict(num_bootstrap=num_bootstrap, seed=seed, bins=bins)
    document = {
        "dataset": preds.dataset,
        "split": preds.split,
        "val_split": val.split,
        "reading": "per label, binary: bins of the predicted probability of the finding; "
        "gap = |mean probability - share of positives|",
        "bins": bins,
        "num_bootstrap": num_bootstrap,
        "temperatures": {k: fits[k]["temperature"] for k in names},
    }
    for stage, probs in zip(STAGES, (preds.probs, scaled), strict=True):
        document[stage] = calibration.report(
            probs, preds.labels, preds.patient_id, names, known, **args
        )
        document[stage]["auroc"] = _aurocs(probs, preds.labels, known, names)
    temperatures = {
        "fitted_on": {"dataset": val.dataset, "split": val.split},
        "rule": "calibrated probability = sigmoid(logit(p) / T), logit(p) = log(p) - "
        f"log(1 - p) with p clipped to [{temperature.LOW!r}, {temperature.HIGH!r}]; "
        "a null temperature leaves its label as it is",
        "labels": fits,
    }
    return document, temperatures


def _aurocs(probs, labels, known, names):
    """Each label's AUROC on its known images (NaN where undefined): scaling must keep it."""
    known = np.ones(np.shape(labels), bool) if known is None else np.asarray(known) > 0
    out = {}
    for i, name in enumerate(names):
        rows = known[:, i]
        out[name] = auroc.per_label_auroc(labels[rows][:, [i]], probs[rows][:, [i]], [name])[name]
    return out


def render(document, temperatures, *, eval_dir: EvalDir) -> Result:
    """Files (calibration.json, temperatures.json, reliability/<Label>.png), W&B items
    (the per-label table, each diagram, macro and per-label measures, temperatures) and
    the terminal table."""
    names = list(document["temperatures"])
    files = {
        eval_dir.file(EvalDir.CALIBRATION): document,
        eval_dir.file(EvalDir.TEMPERATURES): temperatures,
    }
    log = {}
    for label in names:
        files[eval_dir.reliability(label)] = plot_reliability(document, label)
        log[diagram_key(label)] = Image(eval_dir.reliability(label))
    columns, rows = table(document)
    log[TABLE] = Table(columns, rows)
    summary = {}
    for stage in STAGES:
        for m in calibration.MEASURES:
            summary[macro_key(m, stage)] = document[stage]["macro"][m]["value"]
            for label in names:
                summary[label_key(m, stage, label)] = document[stage]["per_label"][label][m][
                    "value"
                ]
    for label in names:
        summary[temperature_key(label)] = document["temperatures"][label]
    text = "\n".join([format_report(document), *fit_warnings(temperatures["labels"])])
    return Result(files=files, log=log, summary=summary, text=text)


def fit_warnings(fits: dict) -> list[str]:
    """A line per temperature that rests on fewer than `thresholds.MIN_POSITIVES`
    validation positives, or that stopped at the search's bound (a label validation
    separates perfectly, or nearly: its T is then the bound, not a fit)."""
    lines = []
    for label, fit in fits.items():
        if fit.get("reason"):
            continue
        if fit.get("at_bound"):
            lines.append(
                f"Warning: {label} temperature {fit['temperature']:.3g} stopped at the "
                "search's bound: validation separates the label (almost) perfectly, so the "
                "fit is the bound's, not the data's"
            )
        few = fit.get("positives", thresholds.MIN_POSITIVES)
        if few < thresholds.MIN_POSITIVES:
            lines.append(
                f"Warning: {label} temperature rests on {few} validation positives (fewer "
                f"than {thresholds.MIN_POSITIVES}): read its calibrated probabilities as rough"
            )
    return lines


def table(document):
    """Columns and one row per label: temperature, then each measure before and after."""
    columns = ["label", "temperature", "images", "positives"]
    columns += [f"{m}_{stage}" for m in calibration.MEASURES for stage in STAGES]
    rows = []
    for label, t in document["temperatures"].items():
        before = document["before"]["per_label"][label]
        row = [label, t, before["images"], before["positives"]]
        row += [
            document[stage]["per_label"][label][m]["value"]
            for m in calibration.MEASURES
            for stage in STAGES
        ]
        rows.append(row)
    return columns, rows


def _with_ci(entry):
    if entry["value"] is None or not math.isfinite(entry["value"]):
        return "n/a"
    return f"{entry['value']:.3f} [{entry['ci_low']:.3f}, {entry['ci_high']:.3f}]"


def format_report(document):
    """Per label: temperature, ECE and adaptive ECE before -> after (with CIs), Brier."""
    width = max(len(label) for label in [*document["temperatures"], "macro"])
    lines = [
        f"Calibration ({document['bins']} bins, {document['num_bootstrap']} patient-bootstrap "
        f"resamples for the 95% CIs); temperatures fitted on {document['val_split']}",
        f"{'label':<{width}}  {'T':>6}  {'ECE before -> after':<45}  adaptive ECE  Brier",
    ]
    entries = [(k, document["temperatures"][k]) for k in document["temperatures"]]
    for label, t in [*entries, ("macro", None)]:
        got = {s: _entry(document[s], label) for s in STAGES}
        t_text = "" if t is None else ("n/a" if not _finite(t) else f"{t:.3f}")
        ece = f"{_with_ci(got['before']['ece'])} -> {_with_ci(got['after']['ece'])}"
        adaptive = (
            f"{_number(got['before']['adaptive_ece'])}->{_number(got['after']['adaptive_ece'])}"
        )
        brier = f"{_number(got['before']['brier'])}->{_number(got['after']['brier'])}"
        lines.append(f"{label:<{width}}  {t_text:>6}  {ece:<45}  {adaptive}  {brier}")
    missed = _cis_above(document)
    if missed:
        lines.append(
            f"Note: {missed} ECE CIs lie wholly above their estimate: binned ECE is biased "
            "upwards, more so on a resample; read the CIs as spread (docs/protocols.md)"
        )
    return "\n".join(lines)


def _cis_above(document) -> int:
    """How many ECE entries (per label and macro, before and after) have ci_low > value."""
    entries = [
        entry["ece"]
        for stage in STAGES
        for entry in [*document[stage]["per_label"].values(), document[stage]["macro"]]
    ]
    return sum(
        _finite(e["value"]) and _finite(e["ci_low"]) and e["ci_low"] > e["value"] for e in entries
    )


def _entry(stage, label):
    return stage["macro"] if label == "macro" else stage["per_label"][label]


def _finite(value):
    return value is not None and math.isfinite(value)


def _number(entry):
    return f"{entry['value']:.3f}" if _finite(entry["value"]) else "n/a"


def plot_reliability(document, label):
    """A label's reliability diagram: share of positives against mean probability per
    equal-width bin, before and after scaling, and below it each bin's image count."""
    # Fixed margins, not layout="tight": its text measuring tripled the time of a figure.
    fig = Figure(figsize=(5.5, 6.5), dpi=_DPI)
    fig.subplots_adjust(left=0.13, right=0.97, top=0.94, bottom=0.08, hspace=0.08)
    top, bottom = fig.subplots(2, 1, height_ratios=(3, 1.4), sharex=True)
    top.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8, label="calibrated")
    width = 1.0 / document["bins"]
    for shift, (stage, color) in zip((-0.25, 0.25), zip(STAGES, ("tab:red", "tab:blue"), strict=True), strict=True):  # fmt: skip
        entry = document[stage]["per_label"][label]
        bins = [b for b in entry["reliability"] if b["images"]]
        x = [b["mean_probability"] for b in bins]
        top.plot(
            x, [b["positive_share"] for b in bins], "o-", color=color, label=_legend(entry, stage)
        )
        centres = np.array([(b["low"] + b["high"]) / 2 for b in entry["reliability"]])
        counts = [b["images"] for b in entry["reliability"]]
        bars = bottom.bar(centres + shift * width, counts, width=width / 2, color=color)
        bottom.bar_label(bars, labels=[str(c) if c else "" for c in counts], fontsize=6)
    top.set(ylabel="share of positives", xlim=(0, 1), ylim=(0, 1))
    top.set_title(f"{label}: T = {_t_text(document['temperatures'][label])}")
    top.legend(loc="upper left", fontsize=7)
    bottom.set(xlabel="predicted probability (equal-width bins)", ylabel="images")
    bottom.set_ylim(0, bottom.get_ylim()[1] * 1.25)  # room for the counts above the bars
    return fig


def _legend(entry, stage):
    words = "raw" if stage == "before" else "temperature-scaled"
    return f"{words}: ECE {_number(entry['ece'])}, n = {entry['images']}"


def _t_text(t):
    return f"{t:.3f}" if _finite(t) else "none (no positive or negative in validation)"
