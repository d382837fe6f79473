"""Localization of heatmaps against NIH's boxes, scored as Wang et al. (CVPR 2017) did.

Wang et al.'s protocol (ChestX-ray8, arXiv:1705.02315 v5, Sections 3.2 and 4,
Appendix A.3 and B; Tables 4 and 19 with IoBB, Table 7 with IoU):

- "The intensities in heatmaps are first normalized to [0, 255] and then
  thresholded by {60, 180} individually. Finally, B-Boxes are generated to cover
  the isolated regions in the resulting binary maps": a box around every
  connected region (8-connected) at each level; the boxes of both levels
  together are the heatmap's detections (their "two-level thresholding" gives
  "1-3 bounding boxes" per heatmap and their tables one number per T).
  Thresholding keeps pixels above the level, as OpenCV and MATLAB binarise.
- A box localizes its truth when IoU > T(IoU) or, the other criterion,
  IoBB > T(IoBB): strictly above; IoBB = area(detected & truth) / area(detected).
- Accuracy ("Acc."): the share of a label's truth boxes that some detection
  localizes. AFP: the label's detections that do not, divided by every box
  scored, all labels: each AFP of their tables is a whole number over 984,
  NIH's box count, not over the label's boxes (`cxr.stats.published.NIH_BOXES`).

Besides the protocol ("wang") each level is scored alone ("wang60", "wang180"),
and every box gets the pointing game (`cxr.saliency.pointing`). A map without positive
evidence (all zero) has no box and no peak: it misses, and the rows count it.
The centre heatmap is scored beside all of them; the uniform random heatmap
only in the pointing game: thresholded noise falls apart into specks (about
2,500 above 180 at 224 px), one of which lies inside nearly any box (IoBB 1).
Boxes are normalised `[ymin, xmin, ymax, xmax]`; NIH's list never has two boxes
of one finding on one image, so box i is judged against its own truth alone.

Streaming: `score_boxes` keeps per-box arrays of one batch, `concatenate_scores`
joins batches, `localization_table` makes the per-label rows, and `summary`,
`format_table`, `format_summary`, `format_published` report them.
"""

import math

import numpy as np
import scipy.ndimage

from cxr.saliency import pointing
from cxr.stats import published

IOBB_THRESHOLDS = published.WANG_IOBB_THRESHOLDS  # Tables 4 and 19
IOU_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)  # Table 7
WANG_LEVELS = (60, 180)  # on the heatmap's [0, 255] scaling
WANG_SETS = {"wang": WANG_LEVELS, "wang60": (60,), "wang180": (180,)}
# (set, criterion, thresholds) scored: IoBB for every set, IoU for the protocol.
WANG_COLUMNS = [(s, "iobb", IOBB_THRESHOLDS) for s in WANG_SETS] + [("wang", "iou", IOU_THRESHOLDS)]
POINTING = ("pointing", "pointing_tol")  # strict; within the tolerance
ALL_BOXES = "all boxes"  # row over every box: rates averaged over boxes
LABEL_MEAN = "label mean"  # row averaging the rates of the labels with boxes

# 8-connectivity: pixels touching at a corner belong to the same region.
_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def rate_key(name, stat, criterion, threshold):
    """A row key, T in percent: rate_key("wang", "acc", "iobb", 0.25) == "wang/acc@iobb25"."""
    return f"{name}/{stat}@{criterion}{round(100 * threshold):02d}"


def iou(a, b):
    """Intersection over union of boxes (..., 4), broadcast; 0 where the union is empty."""
    inter = _intersection(a, b)
    union = _area(a) + _area(b) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def iobb(detected, truth):
    """Intersection over the detected box's area, boxes (..., 4) broadcast; 0 for an empty box."""
    inter = _intersection(detected, truth)
    area = np.broadcast_to(_area(detected), inter.shape)
    return np.divide(inter, area, out=np.zeros_like(inter), where=area > 0)


_OVERLAPS = {"iobb": iobb, "iou": iou}  # criterion -> overlap function


def predicted_boxes(heatmap, threshold):
    """Wang et al.'s boxes of one heatmap at one level.

    Args:
        heatmap: (H, W), any range: it is min-max scaled to [0, 255].
        threshold: A level of that scaling (60 or 180); pixels above it are on.

    Returns:
        (K, 4) boxes of its K connected regions, in row-major order of their
        first pixel, pixel edges as bounds (pixel (r, c) gives `[r/H, c/W,
        (r+1)/H, (c+1)/W]`); (0, 4) for an empty map.
    """
    heatmap = np.asarray(heatmap, dtype=np.float64)
    if pointing.is_empty(heatmap):
        return np.zeros((0, 4))
    low, high = heatmap.min(), heatmap.max()
    on = 255 * (heatmap - low) / (high - low) > threshold
    regions, _ = scipy.ndimage.label(on, structure=_EIGHT_CONNECTED)
    h, w = heatmap.shape
    boxes = [
        (r.start / h, c.start / w, r.stop / h, c.stop / w)
        for r, c in scipy.ndimage.find_objects(regions)
    ]
    return np.array(boxes, dtype=np.float64).reshape(-1, 4)


def score_boxes(*, heatmaps, boxes, tolerance=pointing.ZHANG_TOLERANCE):
    """Scores one batch: heatmap i against truth box i.

    Args:
        heatmaps: (M, H, W): heatmap i explains the label of box i on its image.
        boxes: (M, 4) normalised truth boxes.
        tolerance: Scalar or (M,): the tolerant pointing game's, as a fraction of
            the image side; Zhang et al.'s 15 px of a 1024 px NIH image by default.

    Returns:
        Per-box arrays, M first: "box" (M, 4), "tolerance", "empty" (no evidence),
        "pointing", "pointing_tol" (hits), and per (set S, criterion C, thresholds)
        of `WANG_COLUMNS`: "S/boxes" (detections), "S/hit_C" (M, T) whether one
        localizes at each T and "S/fp_C" (M, T) how many do not.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    tolerance = np.broadcast_to(np.asarray(tolerance, dtype=np.float64), (len(boxes),))
    rows = [_judge(_detect(h), b, t) for h, b, t in zip(heatmaps, boxes, tolerance, strict=True)]
    return {**_stack(rows), "box": boxes.copy(), "tolerance": tolerance.copy()}


def concatenate_scores(batches):
    """Joins `score_boxes` outputs of several batches, in order; none gives no boxes."""
    batches = list(batches) or [score_boxes(heatmaps=np.zeros((0, 1, 1)), boxes=np.zeros((0, 4)))]
    return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}


def localization_table(scores, *, box_labels, label_names, heatmap_shape, seed=0, draws=10_000):
    """Per-label rates of the scored boxes, beside the uniform random and centre baselines.

    Args:
        scores: `score_boxes` (or `concatenate_scores`) output for M boxes.
        box_labels: (M,) label index of each box, into `label_names`.
        label_names: All label names; each gets a row (NaN rates without boxes).
        heatmap_shape: (H, W) of the heatmaps, for the baselines.
        seed: Seed of the simulated p-values of the `LABEL_MEAN` row.
        draws: How many simulations those take.

    Returns:
        label name -> row, then `ALL_BOXES` and `LABEL_MEAN`. A row: "n" boxes,
        "empty" maps, "tolerance" (mean); per (S, C, thresholds) of
        `WANG_COLUMNS` and T, "S/acc@CT" and "S/afp@CT" (`rate_key`), "S/boxes"
        (detections per map), each again after "centre/" for the centre
        heatmap (`cxr.saliency.pointing.centre_heatmap`); per game K of `POINTING`, the
        keys of `cxr.saliency.pointing.game_rates`: p-values exact per label and over
        all boxes, simulated for the label mean (`mean_rate_p_value`).
    """
    labels = np.asarray(box_labels, dtype=np.int64).reshape(-1)
    centre = _judge_all(_detect(pointing.centre_heatmap(*heatmap_shape)), scores)
    chance = {
        "pointing": pointing.random_chance(scores["box"], 0.0, heatmap_shape),
        "pointing_tol": pointing.random_chance(scores["box"], scores["tolerance"], heatmap_shape),
    }
    groups = {name: labels == index for index, name in enumerate(label_names)}
    groups[ALL_BOXES] = np.ones(len(labels), dtype=bool)
    table = {name: _row(scores, centre, chance, mine) for name, mine in groups.items()}
    present = [table[name] for name in label_names if table[name]["n"]]
    mean = {k: _mean([row[k] for row in present]) for k in table[ALL_BOXES]}
    mean.update(n=sum(r["n"] for r in present), empty=sum(r["empty"] for r in present))
    for kind in POINTING:
        hits, centre_hits = scores[kind], centre[kind]
        for source, null in (
            ("random", chance[kind]),
            ("centre", pointing.centre_null(hits, centre_hits)),
        ):
            mean[f"p_{source}/{kind}"] = pointing.mean_rate_p_value(
                hits, null, labels, draws=draws, seed=seed
            )
    table[LABEL_MEAN] = mean
    return table


def summary(table):
    """The headline numbers as a flat {key: float}, e.g. for a W&B run summary.

    Keys, to be prefixed with the split: "localization/boxes",
    "localization/empty_maps"; over all boxes "S/acc@iobbT", "S/afp@iobbT" per
    set S and T(IoBB); per game K the `cxr.saliency.pointing.game_rates` keys over all
    boxes and again after "label_mean/"; "pointing/<label>" per label with boxes.
    """
    every = table[ALL_BOXES]
    out = {"localization/boxes": every["n"], "localization/empty_maps": every["empty"]}
    for name in WANG_SETS:
        for t in IOBB_THRESHOLDS:
            for stat in ("acc", "afp"):
                out[rate_key(name, stat, "iobb", t)] = every[rate_key(name, stat, "iobb", t)]
    for name, prefix in ((ALL_BOXES, ""), (LABEL_MEAN, "label_mean/")):
        for kind in POINTING:
            for source in ("", "random/", "centre/", "p_random/", "p_centre/"):
                out[f"{prefix}{source}{kind}"] = table[name][source + kind]
    labels = [name for name in table if name not in (ALL_BOXES, LABEL_MEAN) and table[name]["n"]]
    out.update({f"pointing/{name}": table[name]["pointing"] for name in labels})
    return {k: float(v) for k, v in out.items()}


def format_table(table, *, iobb=0.5, official=False):
    """A compact terminal table per label with boxes, then the summary line.

    Args:
        table: From `localization_table`.
        iobb: The T(IoBB) of the Wang columns (one of `IOBB_THRESHOLDS`).
        official: True only when the boxes are NIH's whole official test list;
            then Wang et al.'s published accuracies follow (`format_published`).
    """
    every = table[ALL_BOXES]
    if not every["n"]:
        return "No box: no localization measured."
    lines = [
        f"Wang et al.'s accuracy/AFP at T(IoBB) > {iobb:g} (AFP: a label's wrong boxes per box "
        "scored, any label), boxes above 60, above 180 and both (their protocol) of the map "
        "scaled to [0, 255].",
        "Pointing: model (uniform random, centre); tolerant: within "
        f"{every['tolerance'] * pointing.NIH_IMAGE_SIDE:.0f} px of the box in a "
        f"{pointing.NIH_IMAGE_SIDE} px image. Empty maps miss.",
        f"{'label':<19}{'n':>5}{'empty':>6}{'>60':>11}{'>180':>11}{'both':>11}{'pointing':>19}{'tolerant':>19}",
    ]
    for name, row in table.items():
        if row["n"]:
            wang = [
                f"{row[rate_key(s, 'acc', 'iobb', iobb)]:.2f}/{row[rate_key(s, 'afp', 'iobb', iobb)]:.2f}"
                for s in ("wang60", "wang180", "wang")
            ]
            games = [
                f"{row[k]:.2f} ({row['random/' + k]:.2f}, {row['centre/' + k]:.2f})"
                for k in POINTING
            ]
            cells = "".join(f"{c:>11}" for c in wang) + "".join(f"{c:>19}" for c in games)
            lines.append(f"{name:<19}{row['n']:>5}{row['empty']:>6}{cells}")
    lines.append(format_summary(table))
    return "\n".join(lines + ([format_published(table)] if official else []))


def format_summary(table):
    """One line: boxes, empty maps, Wang et al.'s accuracy and AFP at T(IoBB) > 0.5, pointing."""
    every = table[ALL_BOXES]
    if not every["n"]:
        return "Localization: no boxes."
    acc, afp = (every[rate_key("wang", stat, "iobb", 0.5)] for stat in ("acc", "afp"))
    return (
        f"{every['n']} boxes, {every['empty']} empty maps: Wang et al. accuracy {acc:.2f}, AFP "
        f"{afp:.2f} at T(IoBB) > 0.5; pointing per box {pointing.format_game(every, 'pointing')}, "
        f"per label {pointing.format_game(table[LABEL_MEAN], 'pointing')}"
    )


def format_published(table):
    """Wang et al.'s T(IoBB) accuracies (`cxr.stats.published.WANG_LOCALIZATION`) beside ours ("wang").

    Per label of theirs and their mean: ours, then each published table. Only
    meaningful when the boxes are NIH's whole official test list.
    """
    sources, labels = published.WANG_LOCALIZATION, published.WANG_LOCALIZATION_LABELS
    lines = [
        "T(IoBB) accuracy: ours / Wang et al. 2017 (arXiv:1705.02315 v5) " + " / ".join(sources),
        f"{'label':<19}{'n':>5}" + "".join(f"{'> ' + format(t, 'g'):>16}" for t in IOBB_THRESHOLDS),
    ]

    def cell(names, j):  # ours, then each published table, at the j-th T(IoBB)
        ours = _mean([table[n][rate_key("wang", "acc", "iobb", IOBB_THRESHOLDS[j])] for n in names])
        theirs = [_mean([s["accuracy"][n][j] for n in names]) for s in sources.values()]
        return " ".join(f"{v:.2f}" for v in (ours, *theirs))

    for title, names in [*((n, [n]) for n in labels), (f"mean of {len(labels)}", labels)]:
        cells = "".join(f"{cell(names, j):>16}" for j in range(len(IOBB_THRESHOLDS)))
        lines.append(f"{title:<19}{sum(table[n]['n'] for n in names):>5}{cells}")
    return "\n".join(lines)


def _detect(heatmap):
    """Peak (None when empty) and the boxes at each of `WANG_LEVELS` of one heatmap."""
    peak = None if pointing.is_empty(heatmap) else pointing.peak(heatmap)
    return peak, {level: predicted_boxes(heatmap, level) for level in WANG_LEVELS}


def _judge(detection, truth, tolerance):
    """One detection against one truth box: per-box scalars and per-T rows."""
    peak, level_boxes = detection
    distance = math.inf if peak is None else float(pointing.distance_to_box(*peak, truth))
    row = {
        "empty": peak is None,
        "pointing": distance <= 0.0,
        "pointing_tol": distance <= tolerance,
    }
    for name, criterion, thresholds in WANG_COLUMNS:
        detected = np.concatenate([level_boxes[level] for level in WANG_SETS[name]])
        correct = _OVERLAPS[criterion](detected, truth)[:, None] > np.array(thresholds)
        row[f"{name}/boxes"] = len(detected)
        row[f"{name}/hit_{criterion}"] = correct.any(axis=0)
        row[f"{name}/fp_{criterion}"] = (~correct).sum(axis=0)
    return row


def _stack(rows):
    """Per-box dicts -> arrays, M first; no rows gives (0, ...) arrays of the same layout."""
    if rows:
        return {k: np.array([row[k] for row in rows]) for k in rows[0]}
    template = _judge(_detect(np.zeros((1, 1))), np.zeros(4), 0.0)
    return {k: np.zeros((0, *np.shape(v)), dtype=np.asarray(v).dtype) for k, v in template.items()}


def _judge_all(detection, scores):
    """One detection (the centre heatmap's) against every scored box."""
    return _stack(
        [_judge(detection, b, t) for b, t in zip(scores["box"], scores["tolerance"], strict=True)]
    )


def _row(scores, centre, chance, mine):
    """The rates of the boxes `mine`; AFP divides by every box scored, as Wang et al. did."""
    n, total = int(mine.sum()), len(mine)
    row = {
        "n": n,
        "empty": int(scores["empty"][mine].sum()),
        "tolerance": _mean(scores["tolerance"][mine]),
    }
    for prefix, source in (("", scores), ("centre/", centre)):
        for name, criterion, thresholds in WANG_COLUMNS:
            hits, false = (
                source[f"{name}/hit_{criterion}"][mine],
                source[f"{name}/fp_{criterion}"][mine],
            )
            for j, t in enumerate(thresholds):
                row[prefix + rate_key(name, "acc", criterion, t)] = _mean(hits[:, j])
                row[prefix + rate_key(name, "afp", criterion, t)] = (
                    float(false[:, j].sum() / total) if n else math.nan
                )
            row[f"{prefix}{name}/boxes"] = _mean(source[f"{name}/boxes"][mine])
    for kind in POINTING:
        row.update(
            pointing.game_rates(kind, scores[kind][mine], chance[kind][mine], centre[kind][mine])
        )
    return row


def _mean(values):
    """Mean as a Python float, NaNs left out; NaN for none, without numpy's warning."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else math.nan


def _area(boxes):
    boxes = np.asarray(boxes, dtype=np.float64)
    return np.clip(boxes[..., 2] - boxes[..., 0], 0, None) * np.clip(
        boxes[..., 3] - boxes[..., 1], 0, None
    )


def _intersection(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    lower, upper = np.maximum(a[..., :2], b[..., :2]), np.minimum(a[..., 2:], b[..., 2:])
    return _area(np.concatenate([lower, upper], axis=-1))
