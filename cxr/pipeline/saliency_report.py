"""The saliency study's outputs: `saliency.json`, the terminal table, plots, galleries, W&B.

`result` turns `cxr.pipeline.saliency_study.study`'s output into one `cxr.tracking.writer.Result`:
the files of a `SaliencyDir`, a W&B table with one image column per method (the same
images side by side, the box drawn), W&B summary numbers, and the table text.
"""

import math

import numpy as np
from matplotlib.figure import Figure

from cxr.evaluation import box_reference
from cxr.evaluation.saliency_scores import CENTRE, RANDOM
from cxr.pipeline import saliency_gallery
from cxr.saliency import localization, sanity
from cxr.saliency.methods import METHODS
from cxr.tracking import writer
from cxr.tracking.rundir import SaliencyDir

# One colour per method and baseline, the same in every panel of every plot: each
# name's place in this order picks its colour of Matplotlib's default cycle (10 colours).
COLOUR_ORDER = (*METHODS, RANDOM, CENTRE)
T_IOBB = 0.5  # the T(IoBB) of the table's and plot's Wang columns
WANG_GRID = localization.rate_key("wang60", "acc", "iobb", T_IOBB)
HEADLINE = {  # column -> title, in table order
    "hit": "hit",
    "pointing": "pointing",
    "miou_otsu": "mIoU Otsu",
    "miou_tuned": "mIoU tuned",
    "auprc": "AUPRC",
    localization.rate_key("wangstyle60", "acc", "iobb", T_IOBB): "W-style>60",
    localization.rate_key("wangstyle180", "acc", "iobb", T_IOBB): "W-style>180",
    WANG_GRID: "Wang>60 grid",
}
# The W&B keys `result` logs, under the split's prefix (`writer.wandb_key`): the
# dashboard asks for them here.
GALLERY_KEY = "saliency/gallery"  # the table: one image column per method
SCORE_PLOT_KEY = "saliency/scores"  # `SaliencyDir.SCORE_PLOT`
SANITY_PLOT_KEY = "saliency/sanity"  # `SaliencyDir.SANITY_PLOT`, when the sanity check ran
PLOTS = {SCORE_PLOT_KEY: SaliencyDir.SCORE_PLOT, SANITY_PLOT_KEY: SaliencyDir.SANITY_PLOT}
SECONDS_PER_MAP = "seconds_per_map"  # a summary number per method (`summary_key`)
SANITY_PASSES = "sanity_passes"  # 1.0 or 0.0 per method, when the sanity check ran
NOTES = {
    "wang60, wang180": "Wang et al.'s protocol on CAM's signed grid (the network's 7x7 at "
    "224 px); only cam and the centre baseline have a grid",
    "wangstyle60, wangstyle180": "Wang-style: the same min-max to [0, 255], levels and "
    "boxes on the map as the method makes it, at the image's size (signed maps as they "
    "are); not Wang et al.'s protocol",
    "hit": "CheXlocalize's hit rate: the map's peak in the box, no tolerance",
    "pointing": "Zhang et al.'s pointing game, within 15 px of a 1024 px image",
    "miou_otsu": "IoU of the map above Otsu's threshold (8-bit levels) with the box",
    "miou_tuned": "IoU at each label's threshold (of the min-max scaled map) chosen on "
    "the validation split's boxes",
    "auprc": "average precision of the pixels' values for 'inside the box'",
    "label_mean": "CheXlocalize's average: the mean over labels of per-label means",
    "afp": "Wang et al.'s AFP: read all_boxes (a label's wrong boxes per box scored)",
    "ci": "95% percentile CIs of patient-bootstrap resamples; comparisons are paired "
    "(the same resamples for every method)",
    "random": "a uniform random map: exact hit chances, pointing scores only",
    "centre": "a cone peaked at the image centre, scored as a method",
}


def notes(boxes=None):
    """`NOTES`, with whose boxes and which maps, and Wang et al.'s protocol named for them."""
    if boxes is None:
        return NOTES
    wang = NOTES["wang60, wang180"].replace("Wang et al.'s protocol", boxes["wang"], 1)
    return {"boxes": f"{boxes['source']}: {boxes['maps']}", **NOTES, "wang60, wang180": wang}


def result(out, *, target: SaliencyDir, facts, label_names):
    """The study's files, W&B items and text.

    Args:
        out: `saliency_study.study`'s output.
        target: Where the files go.
        facts: {"dataset", "split", "val_split", "methods", "options"} and "box_set" (a
            `box_reference.BoxSet` as a dict: whose boxes, which maps; NIH's when absent).
        label_names: The dataset's labels.
    """
    scores = out["scores"]["methods"]
    sanity_json = sanity_summary(*out["sanity"], data=out.get("data_randomization"))
    tuned = (
        f"chosen per label and method on {out['validation_boxes']} boxes of {facts['val_split']}"
        if out["validation_boxes"]
        else f"not measured: the validation split {facts['val_split']!r} has no boxes"
    )
    content = {
        **facts,
        "options": {
            m: {**METHODS[m].defaults, **facts["options"].get(m, {})} for m in facts["methods"]
        },
        "boxes": out["boxes"],
        "images": out["images"],
        "tuned_threshold": tuned,
        "notes": notes(facts.get("box_set")),
        "seconds_per_map": out["seconds_per_map"],
        "scores": scores,
        "comparisons": out["scores"]["comparisons"],
        "sanity": sanity_json,
    }
    files = {
        target.file(SaliencyDir.SCORES): content,
        target.file(SaliencyDir.SCORE_PLOT): score_figure(scores),
    }
    if out["sanity"][0] is not None:
        files[target.file(SaliencyDir.SANITY_PLOT)] = sanity_figure(out["sanity"][0])
    kept, methods = out["kept"], facts["methods"]
    for page, start in enumerate(range(0, len(kept), 4)):
        figure = saliency_gallery.gallery_figure(kept[start : start + 4], methods, label_names)
        files[target.gallery(page)] = figure
    text = format_table(scores, out["seconds_per_map"], sanity_json, facts=facts, tuned=tuned)
    return writer.Result(
        files=files,
        log={
            GALLERY_KEY: saliency_gallery.gallery_table(kept, methods, label_names),
            **_plots(target, files),
        },
        summary=summary(scores, out["seconds_per_map"], sanity_json),
        text=text,
    )


def _plots(target, files):
    """The plots among `files`, as W&B images under their `PLOTS` keys."""
    return {k: writer.Image(target.file(f)) for k, f in PLOTS.items() if target.file(f) in files}


def sanity_summary(results, verdicts, *, data=None):
    """Per method: the pass rule's verdict and the mean similarity per randomised block.

    Args:
        results, verdicts: The cascade's (`saliency_study.run_sanity`).
        data: The data randomisation test's (results, verdicts), or None when not run;
            each method then also has "data_randomization": {"images", "verdict"}, the
            verdict holding per metric the mean similarity, the baseline and the pass.
    """
    if results is None:
        return {"note": "not run: fewer than two images asked for or boxed"}
    out = {}
    for method, result in results.items():
        stages = [
            {"block": prefix, **{m: float(np.mean(values[m])) for m in sanity.METRICS}}
            for prefix, values in result["stages"]
        ]
        out[method] = {"images": _images(result), "verdict": verdicts[method], "stages": stages}
        if data is not None and data[0] is not None:
            data_results, data_verdicts = data
            out[method]["data_randomization"] = {
                "images": _images(data_results[method]),
                "verdict": data_verdicts[method],
            }
    return out


def _images(result):
    """How many images a test's result compared."""
    return len(result["stages"][0][1][sanity.METRICS[0]])


def format_table(scores, seconds, sanity_json, *, facts, tuned):
    """The terminal table: label means with CIs per method and baseline, cost, sanity."""
    columns = [c for c in HEADLINE if any(c in s for s in scores.values())]
    data = any("data_randomization" in e for e in sanity_json.values() if isinstance(e, dict))
    lines = [
        f"Saliency on {facts['dataset']} {facts['split']}{_against(facts)}: label means "
        "(CheXlocalize: mean "
        f"over labels of per-label means) [95% patient-bootstrap CI]; Wang columns: "
        f"accuracy at T(IoBB) > {T_IOBB}. Tuned mIoU: {tuned}.",
        f"{'method':<11}{'s/map':>7}"
        + "".join(f"{HEADLINE[c]:>18}" for c in columns)
        + f"  {'sanity':<24}"
        + ("  data randomisation" if data else ""),
    ]
    for method, cols in scores.items():
        cells = "".join(f"{_cell(cols.get(c)):>18}" for c in columns)
        cost = f"{seconds[method]:.3g}" if method in seconds else "-"
        entry = sanity_json.get(method) or {}
        line = f"{method:<11}{cost:>7}{cells}  {_verdict(entry):<24}"
        if data:
            line += f"  {_verdict(entry.get('data_randomization'))}"
        lines.append(line.rstrip())
    return "\n".join(lines)


def _against(facts):
    """against <whose boxes> (<which maps>); Wang's columns: <its name>", for another's boxes."""
    boxes = facts.get("box_set")
    if not boxes or boxes["name"] == box_reference.NIH:
        return ""
    return f" against {boxes['source']} ({boxes['maps']}; Wang's columns: {boxes['wang']})"


def _cell(column):
    if column is None:
        return "-"
    v = column["label_mean"]
    if not math.isfinite(v["value"]):
        return "nan"
    return f"{v['value']:.2f} [{v['ci_low']:.2f},{v['ci_high']:.2f}]"


def _verdict(entry):
    if not entry or "verdict" not in entry:
        return "-"
    verdict = entry["verdict"]
    if verdict["passes"] is None:  # constant maps: nothing measured (sanity.verdicts)
        trained, randomized = verdict["constant_maps"], verdict.get("constant_randomized_maps", 0)
        where = f"{trained} constant maps" if trained else f"{randomized} constant randomised maps"
        return f"n/a: {where} ({entry['images']} images)"
    passed = sum(verdict[m]["passes"] for m in sanity.METRICS)
    word = "pass" if verdict["passes"] else "fail"
    return f"{word} {passed}/{len(sanity.METRICS)} ({entry['images']} images)"


def summary(scores, seconds, sanity_json):
    """W&B summary numbers: headline label means, seconds per map, sanity passes."""
    out = {}
    for method, cols in scores.items():
        for column in HEADLINE:
            if column in cols:
                out[summary_key(method, column)] = cols[column]["label_mean"]["value"]
    for method, value in seconds.items():
        out[summary_key(method, SECONDS_PER_MAP)] = value
        if "verdict" in sanity_json.get(method, {}):
            passes = sanity_json[method]["verdict"]["passes"]  # None: undetermined
            out[summary_key(method, SANITY_PASSES)] = math.nan if passes is None else float(passes)
    return out


def summary_key(method, number):
    """The W&B summary key of a method's number: a `HEADLINE` column, `SECONDS_PER_MAP`
    or `SANITY_PASSES`, e.g. "saliency/gradcam/hit"."""
    return f"saliency/{method}/{number}"


def method_colour(name):
    """The colour of a method or baseline in every plot of the study (`COLOUR_ORDER`)."""
    if name not in COLOUR_ORDER:
        return "black"  # not one of ours: drawn, never mistaken for one that is
    return f"C{COLOUR_ORDER.index(name) % 10}"


def score_figure(scores) -> Figure:
    """One panel per headline score: each method's label mean with its CI."""
    columns = [c for c in HEADLINE if any(c in s for s in scores.values())]
    rows = math.ceil(len(columns) / 4)
    figure = Figure(figsize=(13, rows * (0.3 * len(scores) + 1.2)), dpi=100)
    grid = figure.subplots(rows, 4, sharey=True, squeeze=False)
    names = list(scores)
    for ax in grid.flat[len(columns) :]:
        ax.set_visible(False)
    for ax, column in zip(grid.flat, columns, strict=False):
        for y, name in enumerate(names):
            if column not in scores[name]:
                continue
            v = scores[name][column]["label_mean"]
            low, high = v["ci_low"], v["ci_high"]
            err = (
                [[max(v["value"] - low, 0)], [max(high - v["value"], 0)]]
                if math.isfinite(low)
                else None
            )
            ax.errorbar(v["value"], y, xerr=err, fmt="o", capsize=3, color=method_colour(name))
        ax.set_title(HEADLINE[column], fontsize=9)
        ax.set_xlim(-0.02, 1.02)
    for ax in grid[:, 0]:
        ax.set_yticks(range(len(names)), names)
        for tick, name in zip(ax.get_yticklabels(), names, strict=True):
            tick.set_color(method_colour(name))
    grid[0, 0].invert_yaxis()  # shared: every panel lists the methods top down
    figure.suptitle("Label mean and 95% patient-bootstrap CI", fontsize=10)
    figure.tight_layout()
    return figure


def sanity_figure(results) -> Figure:
    """Per similarity: each method's mean over images per randomised block (cumulative)."""
    figure = Figure(figsize=(14, 3.6), dpi=100)
    axes = figure.subplots(1, len(sanity.METRICS), sharey=True)
    for ax, metric in zip(axes, sanity.METRICS, strict=True):
        for method, result in results.items():
            blocks = [prefix for prefix, _ in result["stages"]]
            means = [float(np.mean(values[metric])) for _, values in result["stages"]]
            colour = method_colour(method)
            ax.plot(range(len(blocks)), means, "o-", color=colour, label=method)
            ax.axhline(result["baseline"][metric], color=colour, linestyle=":", linewidth=1)
            ax.set_xticks(range(len(blocks)), blocks, rotation=90, fontsize=7)
        ax.set_title(metric, fontsize=9)
    axes[0].set_ylabel("similarity to the trained model's map")
    axes[-1].legend(fontsize=7)
    figure.suptitle(
        "Cascading randomisation, top block first (dotted: random-pair baseline)", fontsize=10
    )
    figure.tight_layout()
    return figure
