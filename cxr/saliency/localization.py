"""Localization of heatmaps against NIH's boxes: Wang et al. (CVPR 2017) step by step.

Wang et al.'s protocol (ChestX-ray8, arXiv:1705.02315 v5, Sections 3.2 and 4,
Appendix A.3 and B; Tables 4 and 19 with IoBB, Table 7 with IoU), each step
quoted with what we do in docs/protocols.md, "Localization after Wang et al. 2017, step by step":

- The heatmap: "multiplying the activation from transition layer (with a size of
  S x S x D) and the weights of prediction layer (with a size of D x C)", no
  ReLU, on the network's own grid ("heatmaps (32 x 32)"). Ours is the class
  activation map of DenseNet121's last block on its 7 x 7 grid at 224 px
  (`cxr.saliency.gradcam.class_activation_grid`, signed).
- "The intensities in heatmaps are first normalized to [0, 255] and then
  thresholded by {60, 180} individually. Finally, B-Boxes are generated to
  cover the isolated regions in the resulting binary maps": min-max per map; a
  cell is on when above the level (OpenCV and MATLAB binarise so); a box around
  each 8-connected region of cells, cell edges as bounds. The grid tiles the
  image (DenseNet's stride 32), so cell (r, c) of an h x w grid is the image's
  `[r/h, c/w, (r+1)/h, (c+1)/w]`.
- Levels: "individually" and one number per T in their tables; the paper does
  not say how the two levels' boxes enter one number. Ours: each level is its
  own set of detections ("wang60", "wang180"), never pooled. Within a level the
  boxes are distinct regions, so no two are duplicates; across levels the same
  region may give the same box twice, which pooling would count twice.
- A box localizes its truth when IoU > T(IoU) or, the other criterion,
  IoBB > T(IoBB): strictly above; IoBB = area(detected & truth) / area(detected).
  Each criterion is scored alone, as each table is.
- Accuracy ("Acc."): the share of a label's truth boxes that some detection
  localizes. AFP: the label's detections that do not, divided by every box
  scored, all labels: each AFP of their tables is a whole number over 984,
  NIH's box count, not over the label's boxes (`cxr.stats.published.NIH_BOXES`).
  So the labels' AFPs add up to the all-boxes AFP; the label-mean row has none.

Besides Wang et al.'s sets, "Wang-style, upsampled" ("up60", "up180") applies
the same boxes to the Grad-CAM map (`cxr.saliency.gradcam.gradcam`: ReLU,
upsampled bilinearly to the image): not their protocol. ReLU turns a map
without positive evidence into a constant one, which has no box and no peak:
it misses, and the rows count it ("empty"). Every box also gets the pointing
game (`cxr.saliency.pointing`) on that map. The centre heatmap is scored beside
all of them; the uniform random heatmap only in the pointing game: thresholded
noise falls apart into specks, one of which lies inside nearly any box (IoBB 1).
Boxes are normalised `[ymin, xmin, ymax, xmax]`; NIH's list never has two boxes
of one finding on one image, so box i is judged against its own truth alone.

Streaming: `score_boxes` keeps per-box arrays of one batch, `concatenate_scores`
joins batches, `localization_table` makes the per-label rows and `summary` their W&B
numbers; `cxr.saliency.localization_report` writes them as text.
"""

import math

import numpy as np
import scipy.ndimage

from cxr.saliency import pointing
from cxr.stats import published

IOBB_THRESHOLDS = published.WANG_IOBB_THRESHOLDS  # Tables 4 and 19
IOU_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)  # Table 7
WANG_LEVELS = (60, 180)  # on the heatmap's [0, 255] scaling
# Detection set -> (map, level): "cam", the signed CAM on its grid (Wang et al.),
# or "heatmap", the upsampled Grad-CAM (Wang-style, upsampled).
BOX_SETS = {
    "wang60": ("cam", 60),
    "wang180": ("cam", 180),
    "up60": ("heatmap", 60),
    "up180": ("heatmap", 180),
}
WANG_SETS = ("wang60", "wang180")
UPSAMPLED_SETS = ("up60", "up180")
SET_TITLES = {"wang": "Wang et al. (CAM on its grid)", "up": "Wang-style, upsampled Grad-CAM"}
# (set, criterion, thresholds) scored: IoBB for every set, IoU (Table 7) for Wang et al.'s.
WANG_COLUMNS = [(s, "iobb", IOBB_THRESHOLDS) for s in BOX_SETS] + [
    (s, "iou", IOU_THRESHOLDS) for s in WANG_SETS
]
POINTING = ("pointing", "pointing_tol")  # strict; within the tolerance
ALL_BOXES = "all boxes"  # row over every box: rates averaged over boxes
LABEL_MEAN = "label mean"  # row averaging the rates (not the AFPs) of the labels with boxes

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


def score_boxes(*, heatmaps, boxes, cams=None, tolerance=pointing.ZHANG_TOLERANCE):
    """Scores one batch: the maps of box i against truth box i.

    Args:
        heatmaps: (M, H, W) Grad-CAM maps (`cxr.saliency.gradcam.gradcam`):
            heatmap i explains the label of box i on its image. For the pointing
            game and the Wang-style upsampled sets.
        boxes: (M, 4) normalised truth boxes.
        cams: (M, h, w) signed class activation maps on their grid
            (`cxr.saliency.gradcam.class_activation_grid`), for Wang et al.'s
            sets; None leaves those NaN.
        tolerance: Scalar or (M,): the tolerant pointing game's, as a fraction of
            the image side; Zhang et al.'s 15 px of a 1024 px NIH image by default.

    Returns:
        Per-box arrays, M first: "box" (M, 4), "tolerance", "empty" (constant
        heatmap), "pointing", "pointing_tol" (hits), and per (set S, criterion
        C, thresholds) of `WANG_COLUMNS`: "S/boxes" (detections), "S/hit_C"
        (M, T) 1.0 where one localizes at each T and "S/fp_C" (M, T) how many
        do not; NaN where S had no map.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    tolerance = np.broadcast_to(np.asarray(tolerance, dtype=np.float64), (len(boxes),))
    cams = [None] * len(boxes) if cams is None else cams
    rows = [
        _judge(_detect(h, c), b, t)
        for h, c, b, t in zip(heatmaps, cams, boxes, tolerance, strict=True)
    ]
    return {**_stack(rows), "box": boxes.copy(), "tolerance": tolerance.copy()}


def concatenate_scores(batches):
    """Joins `score_boxes` outputs of several batches, in order; none gives no boxes."""
    batches = list(batches) or [score_boxes(heatmaps=np.zeros((0, 1, 1)), boxes=np.zeros((0, 4)))]
    return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}


def localization_table(
    scores, *, box_labels, label_names, heatmap_shape, cam_shape=None, seed=0, draws=10_000
):
    """Per-label rates of the scored boxes, beside the uniform random and centre baselines.

    Args:
        scores: `score_boxes` (or `concatenate_scores`) output for M boxes.
        box_labels: (M,) label index of each box, into `label_names`.
        label_names: All label names; each gets a row (NaN rates without boxes).
        heatmap_shape: (H, W) of the heatmaps, for the baselines.
        cam_shape: (h, w) of the CAM grids, for the centre baseline of Wang et
            al.'s sets; None when no CAM was scored.
        seed: Seed of the simulated p-values of the `LABEL_MEAN` row.
        draws: How many simulations those take.

    Returns:
        label name -> row, then `ALL_BOXES` and `LABEL_MEAN`. A row: "n" boxes,
        "empty" maps, "tolerance" (mean); per (S, C, thresholds) of
        `WANG_COLUMNS` and T, "S/acc@CT" and "S/afp@CT" (`rate_key`), "S/boxes"
        (detections per map), each again after "centre/" for the centre
        heatmap (`cxr.saliency.pointing.centre_heatmap`); per game K of `POINTING`, the
        keys of `cxr.saliency.pointing.game_rates`: p-values exact per label and over
        all boxes, simulated for the label mean (`mean_rate_p_value`). The
        label mean has no AFP: Wang et al.'s label AFPs already share one
        denominator, so they add up to, not average to, the all-boxes AFP.
    """
    labels = np.asarray(box_labels, dtype=np.int64).reshape(-1)
    centre_cam = None if cam_shape is None else pointing.centre_heatmap(*cam_shape)
    centre = _judge_all(_detect(pointing.centre_heatmap(*heatmap_shape), centre_cam), scores)
    chance = {
        "pointing": pointing.random_chance(scores["box"], 0.0, heatmap_shape),
        "pointing_tol": pointing.random_chance(scores["box"], scores["tolerance"], heatmap_shape),
    }
    groups = {name: labels == index for index, name in enumerate(label_names)}
    groups[ALL_BOXES] = np.ones(len(labels), dtype=bool)
    table = {name: _row(scores, centre, chance, mine) for name, mine in groups.items()}
    present = [table[name] for name in label_names if table[name]["n"]]
    mean = {k: nan_mean([row[k] for row in present]) for k in table[ALL_BOXES] if "/afp@" not in k}
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
    "localization/empty_maps"; over all boxes "S/acc@CT", "S/afp@CT" per
    (S, C, thresholds) of `WANG_COLUMNS` and T; per game K the
    `cxr.saliency.pointing.game_rates` keys over all boxes and again after
    "label_mean/"; "pointing/<label>" per label with boxes.
    """
    every = table[ALL_BOXES]
    out = {"localization/boxes": every["n"], "localization/empty_maps": every["empty"]}
    for name, criterion, thresholds in WANG_COLUMNS:
        for t in thresholds:
            for stat in ("acc", "afp"):
                out[rate_key(name, stat, criterion, t)] = every[rate_key(name, stat, criterion, t)]
    for name, prefix in ((ALL_BOXES, ""), (LABEL_MEAN, "label_mean/")):
        for kind in POINTING:
            for source in ("", "random/", "centre/", "p_random/", "p_centre/"):
                out[f"{prefix}{source}{kind}"] = table[name][source + kind]
    labels = [name for name in table if name not in (ALL_BOXES, LABEL_MEAN) and table[name]["n"]]
    out.update({f"pointing/{name}": table[name]["pointing"] for name in labels})
    return {k: float(v) for k, v in out.items()}


def _detect(heatmap, cam):
    """The heatmap's peak (None when empty) and the boxes of each of `BOX_SETS` (None without its map)."""
    peak = None if pointing.is_empty(heatmap) else pointing.peak(heatmap)
    maps = {"heatmap": heatmap, "cam": cam}
    return peak, {
        name: None if maps[source] is None else predicted_boxes(maps[source], level)
        for name, (source, level) in BOX_SETS.items()
    }


def _judge(detection, truth, tolerance):
    """One detection against one truth box: per-box scalars and per-T rows."""
    peak, set_boxes = detection
    distance = math.inf if peak is None else float(pointing.distance_to_box(*peak, truth))
    row = {
        "empty": peak is None,
        "pointing": distance <= 0.0,
        "pointing_tol": distance <= tolerance,
    }
    for name, criterion, thresholds in WANG_COLUMNS:
        detected = set_boxes[name]
        if detected is None:  # no map for this set: unknown, not a miss
            row[f"{name}/boxes"] = math.nan
            row[f"{name}/hit_{criterion}"] = np.full(len(thresholds), math.nan)
            row[f"{name}/fp_{criterion}"] = np.full(len(thresholds), math.nan)
            continue
        correct = _OVERLAPS[criterion](detected, truth)[:, None] > np.array(thresholds)
        row[f"{name}/boxes"] = float(len(detected))
        row[f"{name}/hit_{criterion}"] = correct.any(axis=0).astype(np.float64)
        row[f"{name}/fp_{criterion}"] = (~correct).sum(axis=0).astype(np.float64)
    return row


def _stack(rows):
    """Per-box dicts -> arrays, M first; no rows gives (0, ...) arrays of the same layout."""
    if rows:
        return {k: np.array([row[k] for row in rows]) for k in rows[0]}
    template = _judge(_detect(np.zeros((1, 1)), np.zeros((1, 1))), np.zeros(4), 0.0)
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
        "tolerance": nan_mean(scores["tolerance"][mine]),
    }
    for prefix, source in (("", scores), ("centre/", centre)):
        for name, criterion, thresholds in WANG_COLUMNS:
            hits, false = (
                source[f"{name}/hit_{criterion}"][mine],
                source[f"{name}/fp_{criterion}"][mine],
            )
            for j, t in enumerate(thresholds):
                row[prefix + rate_key(name, "acc", criterion, t)] = nan_mean(hits[:, j])
                row[prefix + rate_key(name, "afp", criterion, t)] = (
                    float(false[:, j].sum() / total) if n else math.nan
                )
            row[f"{prefix}{name}/boxes"] = nan_mean(source[f"{name}/boxes"][mine])
    for kind in POINTING:
        row.update(
            pointing.game_rates(kind, scores[kind][mine], chance[kind][mine], centre[kind][mine])
        )
    return row


def nan_mean(values):
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
