"""Measured localization of heatmaps against NIH's boxes, as in Wang et al. (CVPR 2017).

Wang et al. turn each heatmap into a box and count a box as correct when its
overlap with the ground-truth box reaches a threshold T, for two overlaps:

    IoU  = area(detected & truth) / area(detected | truth)
    IoBB = area(detected & truth) / area(detected)

IoBB forgives a detected box that lies inside a larger truth box. We also score
the pointing game (Zhang et al., ECCV 2016): a hit when the heatmap's maximum
lies inside the truth box; it needs no threshold and no box. Zhang et al.
count a maximum within 15 pixels of the object as a hit too: we report that
tolerant rate beside the strict one, the tolerance scaled to the image (15 px
of a 224 px input). It matters for coarse maps: DenseNet121's last conv layer
is 7 x 7 at 224 px and only 4 x 4 at 128 px, so an upsampled heatmap peaks at
one of 16 cell centres, which a small box may not contain however well the
model attends to it.

Boxes are normalised `[ymin, xmin, ymax, xmax]` in [0, 1], as the dataset's
`bboxes` feature stores them. Plain numpy throughout: the boxes are few and
come as numpy arrays, so no backend is involved.
"""

import math

import numpy as np
import scipy.ndimage

IOBB_THRESHOLDS = (0.1, 0.25, 0.5, 0.75, 0.9)  # Wang et al., Table 3
IOU_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
# Zhang et al.'s 15 px, as a fraction of the side of a 224 px image.
POINTING_TOLERANCE = 15 / 224
ALL_BOXES = "all boxes"  # the table's last row: every box, whatever its label
DEFAULT_COLUMNS = (
    "pointing",
    "pointing_tol",
    "iobb@0.25",
    "iobb@0.5",
    "iou@0.1",
    "iou@0.3",
    "iou@0.5",
)

# 8-connectivity: pixels touching at a corner belong to the same region.
_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def heatmap_to_box(heatmap, threshold=0.5):
    """Boxes the largest connected region of the heatmap at or above `threshold`.

    Args:
        heatmap: (H, W) values in [0, 1] with their maximum at 1, as
            `cxr.gradcam.gradcam` returns them.
        threshold: Pixels >= threshold are "on". 0.5 keeps what is at least half
            as hot as the hottest pixel.

    Returns:
        The region's box `[ymin, xmin, ymax, xmax]` normalised by the heatmap's
        size, with pixel edges as bounds (a single pixel (r, c) gives
        `[r/H, c/W, (r+1)/H, (c+1)/W]`); None when no pixel is on. Among equally
        large regions (8-connected) the first in row-major order wins.
    """
    heatmap = np.asarray(heatmap)
    regions, count = scipy.ndimage.label(heatmap >= threshold, structure=_EIGHT_CONNECTED)
    if count == 0:
        return None
    largest = 1 + np.argmax(np.bincount(regions.ravel())[1:])
    rows, cols = np.nonzero(regions == largest)
    height, width = heatmap.shape
    box = [
        rows.min() / height,
        cols.min() / width,
        (rows.max() + 1) / height,
        (cols.max() + 1) / width,
    ]
    return np.array(box, dtype=np.float64)


def _area(boxes):
    boxes = np.asarray(boxes, dtype=np.float64)
    return np.clip(boxes[..., 2] - boxes[..., 0], 0, None) * np.clip(
        boxes[..., 3] - boxes[..., 1], 0, None
    )


def _intersection(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    lower = np.maximum(a[..., :2], b[..., :2])
    upper = np.minimum(a[..., 2:], b[..., 2:])
    return _area(np.concatenate([lower, upper], axis=-1))


def iou(a, b):
    """Intersection over union of boxes `[ymin, xmin, ymax, xmax]`.

    Args:
        a, b: Boxes (..., 4); they broadcast against each other.

    Returns:
        The IoU (...) as float64; 0 where the union is empty.
    """
    inter = _intersection(a, b)
    union = _area(a) + _area(b) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def iobb(detected, truth):
    """Intersection over the detected box's area (Wang et al.'s IoBB).

    Args:
        detected: Detected boxes (..., 4), `[ymin, xmin, ymax, xmax]`.
        truth: Ground-truth boxes (..., 4); they broadcast against `detected`.

    Returns:
        area(detected & truth) / area(detected), (...) as float64; 0 where the
        detected box is empty.
    """
    inter = _intersection(detected, truth)
    area = np.broadcast_to(_area(detected), inter.shape)
    return np.divide(inter, area, out=np.zeros_like(inter), where=area > 0)


def pointing_hit(heatmap, box, tolerance=0.0):
    """Whether the heatmap's maximum falls inside the box (the pointing game).

    Args:
        heatmap: (H, W) array.
        box: Normalised `[ymin, xmin, ymax, xmax]`.
        tolerance: A maximum at most this far from the box (in units of the
            image side) is a hit too; 0 for the strict game,
            `POINTING_TOLERANCE` for Zhang et al.'s.

    Returns:
        True if the centre of the hottest pixel (see `peak`) lies in the box,
        edges included, or within `tolerance` of it; False for a constant
        heatmap, which points nowhere.
    """
    return bool(_peak_distance(heatmap, box) <= tolerance)


def _peak_distance(heatmap, box):
    """Distance of the heatmap's peak to the box; inf for a constant map (it points nowhere)."""
    heatmap = np.asarray(heatmap)
    if heatmap.max() == heatmap.min():
        return math.inf
    y, x = peak(heatmap)
    return float(_distance_to_box(y, x, np.asarray(box, dtype=np.float64)))


def peak(heatmap):
    """The normalised centre (y, x) of the heatmap's hottest pixel.

    Ties go to the pixel nearest the image centre (then the first in row-major
    order). That is where an upsampled coarse map peaks: bilinear upsampling
    holds a border cell's value flat from the cell's centre out to the image
    edge, so the tied plateau of a hot border cell runs from its centre to
    the border, and its inner end is the cell's centre, not the image corner.

    Args:
        heatmap: (H, W) array.

    Returns:
        (y, x) in [0, 1], pixel centres at `(row + 0.5) / H`, `(col + 0.5) / W`.
    """
    heatmap = np.asarray(heatmap)
    height, width = heatmap.shape
    rows, cols = np.nonzero(heatmap == heatmap.max())
    ys, xs = (rows + 0.5) / height, (cols + 0.5) / width
    nearest = np.argmin((ys - 0.5) ** 2 + (xs - 0.5) ** 2)  # first of equals: row-major
    return float(ys[nearest]), float(xs[nearest])


def _distance_to_box(y, x, box):
    """Euclidean distance of points (y, x) to boxes (..., 4); 0 inside and on the edges."""
    dy = np.maximum(np.maximum(box[..., 0] - y, y - box[..., 2]), 0.0)
    dx = np.maximum(np.maximum(box[..., 1] - x, x - box[..., 3]), 0.0)
    return np.sqrt(dy * dy + dx * dx)


def localization_table(
    heatmaps,
    boxes,
    box_labels,
    label_names,
    threshold=0.5,
    seed=0,
    random_draws=100,
    pointing_tolerance=POINTING_TOLERANCE,
):
    """Scores heatmaps against ground-truth boxes, per pathology, beside random heatmaps.

    One row per ground-truth box: `heatmaps[i]` explains the label
    `box_labels[i]` on the image that `boxes[i]` belongs to (compute them with
    `cxr.gradcam.gradcam(model, images_of_boxes, box_labels)`).

    The random baseline is a uniform random heatmap: every pixel i.i.d.
    uniform in [0, 1], at the heatmaps' size. Its pointing rates are exact:
    the maximum is a uniformly random pixel, so the rate is the share of pixel
    centres inside the truth box (its area fraction, up to pixel rounding), or
    within the tolerance of it. Its IoBB and IoU rates are averaged over
    `random_draws` such maps drawn with `seed`, each boxed like the real
    heatmaps and scored against every truth box. (At threshold 0.5 the
    largest region of such noise spans nearly the whole image, so this is
    what "the whole image" scores.)

    Args:
        heatmaps: (M, H, W) heatmaps in [0, 1], one per box.
        boxes: (M, 4) normalised `[ymin, xmin, ymax, xmax]` truth boxes.
        box_labels: (M,) label index of each box, into `label_names`.
        label_names: All label names; every one gets a row.
        threshold: Heatmap threshold of `heatmap_to_box`.
        seed: Seed of the random heatmaps.
        random_draws: How many random heatmaps the IoBB/IoU baseline averages.
        pointing_tolerance: Tolerance of "pointing_tol", as a fraction of the
            image side (see `pointing_hit`).

    Returns:
        A dict label name -> dict with "n" (boxes), "iobb@T" for T in
        IOBB_THRESHOLDS, "iou@T" for T in IOU_THRESHOLDS, "pointing" and
        "pointing_tol" (shares of boxes that are hits), and the same keys
        prefixed "random/" for the baseline, and "p/pointing", "p/pointing_tol":
        the chance that random heatmaps would hit at least as many boxes
        (one-sided; see `chance_p_value`); then a last row `ALL_BOXES` over
        every box (its rates are means over boxes, so frequent labels weigh
        more). Rates of a row without boxes are NaN.
    """
    heatmaps = np.asarray(heatmaps)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    box_labels = np.asarray(box_labels, dtype=np.int64).reshape(-1)
    height, width = heatmaps.shape[1:] if heatmaps.ndim == 3 else (1, 1)

    detected = np.array([_box_or_empty(h, threshold) for h in heatmaps]).reshape(-1, 4)
    peak_distance = np.array(
        [_peak_distance(h, b) for h, b in zip(heatmaps, boxes, strict=True)], dtype=np.float64
    )
    hits = {
        "iobb": iobb(detected, boxes),
        "iou": iou(detected, boxes),
        "pointing": peak_distance <= 0.0,
        "pointing_tol": peak_distance <= pointing_tolerance,
    }
    rng = np.random.default_rng(seed)
    noise_boxes = np.array(
        [_box_or_empty(rng.random((height, width)), threshold) for _ in range(random_draws)]
    )
    random_hits = {  # (M, draws): every truth box against every random box
        "iobb": iobb(noise_boxes[None], boxes[:, None]),
        "iou": iou(noise_boxes[None], boxes[:, None]),
        "pointing": _pixel_centre_fraction(boxes, height, width, 0.0),
        "pointing_tol": _pixel_centre_fraction(boxes, height, width, pointing_tolerance),
    }

    rows = {name: box_labels == index for index, name in enumerate(label_names)}
    rows[ALL_BOXES] = np.ones(len(boxes), dtype=bool)
    table = {}
    for name, mine in rows.items():
        row = {"n": int(mine.sum())}
        for prefix, scores in (("", hits), ("random/", random_hits)):
            for kind, thresholds in (("iobb", IOBB_THRESHOLDS), ("iou", IOU_THRESHOLDS)):
                for t in thresholds:
                    row[f"{prefix}{kind}@{t}"] = _mean(scores[kind][mine] >= t)
            for kind in ("pointing", "pointing_tol"):
                row[f"{prefix}{kind}"] = _mean(scores[kind][mine])
        for kind in ("pointing", "pointing_tol"):
            row[f"p/{kind}"] = chance_p_value(hits[kind][mine], random_hits[kind][mine])
        table[name] = row
    return table


def chance_p_value(hits, chance):
    """P(a random heatmap per box hits at least as many boxes as `hits` did).

    Box i is hit by chance with probability `chance[i]`, independently, so the
    number of chance hits is Poisson-binomial; its upper tail is exact here.

    Args:
        hits: (M,) booleans, the model's hits.
        chance: (M,) each box's chance rate (e.g. its "random/pointing").

    Returns:
        The one-sided p-value; NaN for no boxes.
    """
    hits, chance = np.asarray(hits, dtype=bool), np.asarray(chance, dtype=np.float64)
    if not hits.size:
        return math.nan
    counts = np.array([1.0])  # distribution of the number of chance hits so far
    for p in chance:
        counts = np.concatenate([counts * (1 - p), [0.0]]) + np.concatenate([[0.0], counts * p])
    return float(min(1.0, counts[int(hits.sum()) :].sum()))


def format_pointing_summary(table):
    """One line on the pointing game over all boxes, beside chance, with p-values."""
    row = table[ALL_BOXES]
    if not row["n"]:
        return "Pointing game: no boxes."
    parts = [
        f"{name} {row[key]:.2f} vs {row['random/' + key]:.2f} for a random heatmap "
        f"(p = {row['p/' + key]:.1g})"
        for name, key in (("strict", "pointing"), ("tolerant", "pointing_tol"))
    ]
    return f"Pointing game over all {row['n']} boxes: " + "; ".join(parts)


def _box_or_empty(heatmap, threshold):
    """`heatmap_to_box`, with an empty box (scoring 0 everywhere) for no region."""
    box = heatmap_to_box(heatmap, threshold)
    return np.zeros(4) if box is None else box


def _pixel_centre_fraction(boxes, height, width, tolerance):
    """Share of an (H, W) grid's pixel centres within `tolerance` of each box, (M,)."""
    y = (np.arange(height)[:, None] + 0.5) / height
    x = (np.arange(width)[None, :] + 0.5) / width
    return np.array([(_distance_to_box(y, x, box) <= tolerance).mean() for box in boxes])


def _mean(values):
    """Mean as a Python float; NaN for no values, without numpy's warning."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()) if values.size else math.nan


def format_localization_table(table, columns=DEFAULT_COLUMNS):
    """Formats a `localization_table` as text: "model (random)" per column.

    Args:
        table: The dict from `localization_table`.
        columns: Which rates to show, e.g. "pointing", "iobb@0.5", "iou@0.3";
            a few by default, since all 14 make a very wide table.

    Returns:
        A string with a header line, one line per label (n/a where it has no
        boxes) and the `ALL_BOXES` line.
    """
    width = max(len(name) for name in table)
    header = f"{'label':<{width}}  {'n':>4}  " + "  ".join(f"{c:>13}" for c in columns)
    lines = [header]
    for name, row in table.items():
        cells = []
        for column in columns:
            value, chance = row[column], row[f"random/{column}"]
            cell = "n/a" if math.isnan(value) else f"{value:.2f} ({chance:.2f})"
            cells.append(f"{cell:>13}")
        lines.append(f"{name:<{width}}  {row['n']:>4}  " + "  ".join(cells))
    return "\n".join(lines)
