"""Grad-CAM galleries: per pathology, the model's best hits and worst mistakes.

For each label, `select_cases` picks test images by rank of the predicted
probability (no decision threshold):

    true_positive   the positives with the highest probability
    false_positive  the negatives with the highest probability
    false_negative  the positives with the lowest probability

`draw_gallery` draws each as the X-ray beside the map the method produced: Grad-CAM
before its ReLU (`cxr.saliency.gradcam.class_activation_grid`), upsampled bilinearly to
the image without ReLU or rescaling (`signed_map`), on a diverging scale centred at
zero (`SIGNED_COLORMAP`: red is evidence for the label, blue against it, white none)
with symmetric limits shared by the label's panels and shown as a colour bar. For the
head of `cxr.model.classifier` a grid cell's value is its contribution to the label's
logit, so the colours of one gallery compare. The ReLU'd map would be blank wherever
the evidence is negative, which a young model's often is everywhere.

Each panel's caption reads, line by line (`caption`): kind, rank, probability, the
label's threshold chosen on validation with its rule ("threshold 0.055 (max F1)") and
the image; what the map shows when that is nothing ("all < 0: no evidence for
Infiltration", or a constant map); and the image's true labels ("truth: No Finding").
NIH's box for that label is drawn where the image has one. `wandb_rows` gives
the same cases as W&B table rows (`TABLE_COLUMNS`): the plain X-ray carries two box
groups, `ground_truth` (NIH's boxes) and `predictions` (the boxes Wang et al.'s
protocol derives from the ReLU'd, upsampled Grad-CAM map,
`cxr.saliency.localization.predicted_boxes`, scored by IoBB and IoU against the
label's truth box), and that map as a mask of `HEAT_CLASSES`, so W&B toggles truth,
prediction and heat on one image. A constant signed map (`cxr.saliency.pointing.is_empty`)
has nothing to show: it is drawn as the X-ray dimmed and marked `CONSTANT_MAP`, so it
cannot pass for a map, and the table says so in its `empty` column and both images'
captions. `overlay` (the [0, 1] map in jet) is what `cxr predict` draws.
"""

import math
import textwrap

import matplotlib
import numpy as np
from matplotlib import cm, colors, patches
from matplotlib.figure import Figure
from PIL import Image, ImageDraw

from cxr.saliency import localization, pointing

KINDS = ("true_positive", "false_positive", "false_negative")
SHORT = {"true_positive": "TP", "false_positive": "FP", "false_negative": "FN"}
_CAPTION_PT = 7  # three lines of it fit the band above a row of panels
_BOX_COLOR = "lime"  # stands out on gray, jet and red-blue alike
ROWS_TITLE = (
    "Grad-CAM before ReLU (red: for the label, blue: against) of the most confident true "
    "positives / false positives (highest p among negatives) / false negatives (lowest p "
    "among positives); green: NIH box"
)
SIGNED_COLORMAP = "RdBu_r"  # diverging, white at its middle: blue < 0 < red
SIGNED_ALPHA = 0.65  # the colour's share over the X-ray: strong enough to read the sign
SCALE_TITLE = "Grad-CAM before ReLU: contribution to the logit per grid cell"
TABLE_COLUMNS = (
    "label",
    "kind",  # TP, FP, FN: the `SHORT` of a kind
    "rank",  # 1 = the most telling of its kind
    "image_id",
    "probability",
    "threshold",  # the label's max-F1 operating point, chosen on validation
    "truth",  # the image's true labels
    "empty",  # whether the signed map is constant (`pointing.is_empty`): nothing to draw
    "xray",  # the plain X-ray: both box groups and the heat mask
    "gradcam",  # the overlay, with both box groups
)
EMPTY_MAP = "no positive evidence"  # the words on an empty (constant) [0, 1] map
CONSTANT_MAP = "constant map"  # the words on a constant signed map in a gallery
BOX_GROUPS = ("ground_truth", "predictions")
HEAT_MASK = "heat"
# Mask classes: how many of Wang et al.'s levels a pixel's scaled heat exceeds. Their
# ids start at 100 so as not to meet the label ids of the boxes (W&B merges both).
_LOW, _HIGH = localization.WANG_LEVELS
HEAT_CLASSES = {
    100: f"heat <= {_LOW}/255",
    101: f"heat {_LOW}-{_HIGH}/255",
    102: f"heat > {_HIGH}/255",
}


def select_cases(probs, labels, label_index, per_kind):
    """Picks the gallery's images for one label, by rank of its probability.

    Args:
        probs: Predicted probabilities (N, L).
        labels: Multi-hot truth (N, L).
        label_index: The label's column.
        per_kind: At most this many images per kind.

    Returns:
        A dict kind (see KINDS) -> int array of image indices, most telling
        first: true positives by decreasing probability, false positives by
        decreasing probability, false negatives by increasing probability.
        Ties go to the lower index. An image shown as a true positive is not
        shown again as a false negative (it happens with few positives).
    """
    p = np.asarray(probs)[:, label_index]
    positive = np.asarray(labels)[:, label_index] > 0.5
    pos, neg = np.flatnonzero(positive), np.flatnonzero(~positive)
    true_pos = pos[np.argsort(-p[pos], kind="stable")][:per_kind]
    rising = pos[np.argsort(p[pos], kind="stable")]
    return {
        "true_positive": true_pos,
        "false_positive": neg[np.argsort(-p[neg], kind="stable")][:per_kind],
        "false_negative": rising[~np.isin(rising, true_pos)][:per_kind],
    }


def overlay(gray, heatmap, alpha=0.6, colormap="jet"):
    """Blends a colour-mapped heatmap onto a gray X-ray; an empty map is marked as such.

    Each pixel's colour weight is `alpha * heatmap`, so cold regions keep the
    plain X-ray and hot ones take the colormap's hot end. An empty (constant) map
    (`pointing.is_empty`) has nothing to show; an all-zero one would leave the plain
    X-ray, which looks like a working overlay that found nothing: instead the X-ray
    is dimmed and crossed by a band reading `EMPTY_MAP`.

    Args:
        gray: uint8 (H, W) image.
        heatmap: (H, W) values in [0, 1].
        alpha: Colour weight at heatmap value 1.
        colormap: A matplotlib colormap name.

    Returns:
        uint8 RGB (H, W, 3).
    """
    if pointing.is_empty(heatmap):
        return _marked_empty(gray)
    heatmap = np.clip(np.asarray(heatmap, dtype=np.float32), 0.0, 1.0)[..., None]
    colors = matplotlib.colormaps[colormap](heatmap[..., 0])[..., :3]
    base = np.repeat(np.asarray(gray, dtype=np.float32)[..., None] / 255.0, 3, axis=-1)
    rgb = (1.0 - alpha * heatmap) * base + alpha * heatmap * colors
    return np.round(rgb * 255.0).astype(np.uint8)


def _marked_empty(gray, text=EMPTY_MAP):
    """The X-ray at half brightness with a dark band and the words `text`."""
    rgb = np.repeat(np.asarray(gray, dtype=np.uint8)[..., None] // 2, 3, axis=-1)
    image = Image.fromarray(rgb)
    draw = ImageDraw.Draw(image)
    height, width = rgb.shape[:2]
    band = max(height // 8, 12)
    top = (height - band) // 2
    draw.rectangle((0, top, width, top + band), fill=(40, 40, 40))
    text = text if width >= 128 else "empty"
    draw.text((4, top + band // 2), text, fill=(255, 255, 255), anchor="lm")
    return np.asarray(image)


def signed_map(cam, size):
    """A signed grid map at the image size: bilinear, no ReLU, no rescaling.

    Half-pixel centres with the border cells held flat out to the edges, as
    `cxr.saliency.gradcam.upsample` resizes before its ReLU and min-max.

    Args:
        cam: (h, w) signed map, e.g. `cxr.saliency.gradcam.class_activation_grid`'s.
        size: (H, W) of the image.

    Returns:
        float64 (H, W), in the range of `cam`.
    """
    rows = _resize_axis(np.asarray(cam, dtype=np.float64), size[0], axis=0)
    return _resize_axis(rows, size[1], axis=1)


def _resize_axis(values, n, axis):
    """Linear interpolation along one axis to `n` samples, half-pixel centres."""
    cells = values.shape[axis]
    centres = (np.arange(n) + 0.5) * cells / n - 0.5  # in cell units
    # np.interp holds the end values beyond the first and last cell centres.
    return np.apply_along_axis(lambda v: np.interp(centres, np.arange(cells), v), axis, values)


def symmetric_limit(maps):
    """The half-range of a diverging scale for `maps`: their largest |value|; 1 if all 0."""
    limit = max((float(np.abs(m).max()) for m in maps if np.size(m)), default=0.0)
    return limit if limit > 0 else 1.0


def signed_colours(signed, limit):
    """RGB in [0, 1] of `SIGNED_COLORMAP` with 0 at its (white) middle and +-limit at its ends."""
    position = 0.5 + 0.5 * np.clip(np.asarray(signed, dtype=np.float64) / limit, -1.0, 1.0)
    return matplotlib.colormaps[SIGNED_COLORMAP](position)[..., :3]


def signed_overlay(gray, signed, limit, alpha=SIGNED_ALPHA):
    """A signed map over a gray X-ray: `signed_colours` at a constant share `alpha`.

    The share is the same everywhere, so that the colour alone says the sign and size
    (0 lightens the X-ray evenly); a constant map is marked `CONSTANT_MAP` instead.

    Args:
        gray: uint8 (H, W) image.
        signed: (H, W) signed map, e.g. from `signed_map`.
        limit: The scale's half-range (`symmetric_limit`).
        alpha: The colour's share.

    Returns:
        uint8 RGB (H, W, 3).
    """
    if pointing.is_empty(signed):
        return _marked_empty(gray, CONSTANT_MAP)
    base = np.repeat(np.asarray(gray, dtype=np.float64)[..., None] / 255.0, 3, axis=-1)
    rgb = (1.0 - alpha) * base + alpha * signed_colours(signed, limit)
    return np.round(rgb * 255.0).astype(np.uint8)


def heat_classes(heatmap):
    """Per pixel, the `HEAT_CLASSES` id: how many of Wang et al.'s levels its heat exceeds.

    The heat is scaled to [0, 255] and thresholded as `cxr.saliency.localization.predicted_boxes`
    does, so the regions of classes above the lowest are what its boxes enclose.

    Args:
        heatmap: (H, W), any range.

    Returns:
        uint8 (H, W); the lowest class everywhere for an empty (constant) map.
    """
    heatmap = np.asarray(heatmap, dtype=np.float64)
    above = np.zeros(heatmap.shape, dtype=np.uint8)
    if not pointing.is_empty(heatmap):
        scaled = 255 * (heatmap - heatmap.min()) / (heatmap.max() - heatmap.min())
        for level in localization.WANG_LEVELS:
            above += scaled > level
    return min(HEAT_CLASSES) + above


def scored_boxes(heatmap, truth):
    """Wang et al.'s boxes of a map at each level, scored against the label's truth boxes.

    Args:
        heatmap: (H, W) Grad-CAM map.
        truth: (K, 4) the label's NIH boxes on the image, normalised; K may be 0.

    Returns:
        A list of dicts: "box" (normalised ymin, xmin, ymax, xmax), "level" (of 255),
        and with a truth box, "iobb" and "iou": the best over the truth boxes.
    """
    found = []
    for level in localization.WANG_LEVELS:
        for box in localization.predicted_boxes(heatmap, level):
            found.append({"box": box, "level": level})
            if len(truth):
                found[-1]["iobb"] = float(localization.iobb(box, truth).max())
                found[-1]["iou"] = float(localization.iou(box, truth).max())
    return found


def case(
    *,
    label,
    label_name,
    kind,
    rank,
    image_id,
    probability,
    threshold,
    threshold_rule,
    truth,
    gray,
    heatmap,
    cam,
    boxes,
    box_labels,
):
    """One gallery case: what `draw_gallery` and `wandb_rows` show of one image and label.

    Args:
        label: The label's index.
        label_name: The label's name, as the captions say it.
        kind: One of `KINDS`.
        rank: 0-based rank within its kind.
        image_id: The image's file name.
        probability: The label's predicted probability.
        threshold: The label's operating point chosen on validation (NaN if none).
        threshold_rule: How it was chosen, in a few words: "max F1".
        truth: The image's true labels as text (`truth_text`).
        gray: uint8 (H, W) X-ray.
        heatmap: (H, W) Grad-CAM map of the label, in [0, 1]: Wang et al.'s boxes
            and the W&B heat mask come from it.
        cam: The label's signed map on the conv grid (or any size): what is drawn.
        boxes, box_labels: The image's NIH boxes (K, 4) and their label indices (K,).
    """
    boxes = np.reshape(boxes, (-1, 4))
    box_labels = np.reshape(box_labels, -1).astype(int)
    return dict(
        label=label,
        label_name=label_name,
        kind=kind,
        rank=rank,
        image_id=image_id,
        probability=float(probability),
        threshold=float(threshold),
        threshold_rule=threshold_rule,
        truth=truth,
        gray=gray,
        signed=signed_map(cam, np.shape(gray)),
        empty=pointing.is_empty(cam),
        negative=bool(np.max(cam) <= 0),  # no evidence for the label: the ReLU'd map is blank
        heat=heat_classes(heatmap),
        predictions=scored_boxes(heatmap, boxes[box_labels == label]),
        boxes=boxes,
        box_labels=box_labels,
    )


def truth_text(multi_hot, label_names):
    """The true labels as text, "No Finding" for none (NIH's own word)."""
    names = [name for name, y in zip(label_names, multi_hot, strict=True) if y > 0.5]
    return ", ".join(names) or "No Finding"


def draw_gallery(cases, *, title, per_kind) -> Figure:
    """Draws the cases of one label as one image grid: a row per kind, X-ray | signed map.

    The maps share one symmetric scale (`symmetric_limit`), drawn as a colour bar on the right.
    """
    size = cases[0]["gray"].shape[0]
    gap, band = size // 16, size // 5  # between cases; above each row, for the captions
    cell_w, cell_h = 2 * size + gap, size + band
    canvas = np.full((band + len(KINDS) * cell_h, per_kind * cell_w, 3), 255, dtype=np.uint8)
    # One axes showing one canvas: Matplotlib's cost is per axes, not per pixel. The
    # colour bar gets a margin of one image's width on the right.
    inches, width = 2.2 / size, canvas.shape[1] + size  # figure inches per image pixel
    fig = Figure(figsize=(width * inches, canvas.shape[0] * inches))
    ax = fig.add_axes((0, 0, canvas.shape[1] / width, 1))
    ax.set_axis_off()
    # Two lines fit the band; an 11 pt character is about 6.5 pt wide.
    title = textwrap.fill(title, int(width * inches * 72 / 6.5))
    ax.text(gap, band * 0.5, title, fontsize=11, va="center")
    limit = symmetric_limit([case["signed"] for case in cases])
    for case in cases:
        x0 = case["rank"] * cell_w
        y0 = band + KINDS.index(case["kind"]) * cell_h + band
        canvas[y0 : y0 + size, x0 : x0 + size] = case["gray"][..., None]
        canvas[y0 : y0 + size, x0 + size : x0 + 2 * size] = signed_overlay(
            case["gray"], case["signed"], limit
        )
        ax.text(x0, y0 - band * 0.08, caption(case), fontsize=_CAPTION_PT, va="bottom")
        for box in case["boxes"][case["box_labels"] == case["label"]]:
            for left in (x0, x0 + size):
                ax.add_patch(_rectangle(box, size, left, y0))
    ax.imshow(canvas, interpolation="nearest")
    cax = fig.add_axes((1 - 0.8 * size / width, 0.1, 0.1 * size / width, 0.75))
    norm = colors.Normalize(-limit, limit)
    bar = fig.colorbar(cm.ScalarMappable(norm, SIGNED_COLORMAP), cax=cax)
    bar.set_label(SCALE_TITLE, fontsize=7)
    bar.ax.tick_params(labelsize=7)
    fig.set_dpi(max(size / 2.2, 80))
    return fig


def caption(case):
    """A panel's caption: one line of facts, one saying what an empty map shows, the truth.

    "FP 1  p=0.071  threshold 0.055 (max F1)  a.png" / "all < 0: no evidence for
    Infiltration" / "truth: No Finding". The middle line is there only for a map that
    shows nothing: constant, or negative everywhere (no evidence for the label).
    """
    threshold = case["threshold"]
    threshold = f"{threshold:.3f}" if math.isfinite(threshold) else "n/a"
    lines = [
        f"{SHORT[case['kind']]} {case['rank'] + 1}  p={case['probability']:.3f}  "
        f"threshold {threshold} ({case['threshold_rule']})  {case['image_id']}"
    ]
    if case["empty"]:
        lines.append(f"Grad-CAM: {CONSTANT_MAP}")
    elif case["negative"]:
        lines.append(f"all < 0: no evidence for {case['label_name']}")
    lines.append(textwrap.shorten(f"truth: {case['truth']}", 70, placeholder=" ..."))
    return "\n".join(lines)


def _rectangle(box, size, left, top):
    """A patch for a normalised box on an image of side `size` put at (left, top)."""
    ymin, xmin, ymax, xmax = box
    # imshow puts pixel centres on integers: pixel edges are at -0.5, 0.5, ...
    return patches.Rectangle(
        (left + xmin * size - 0.5, top + ymin * size - 0.5),
        (xmax - xmin) * size,
        (ymax - ymin) * size,
        fill=False,
        edgecolor=_BOX_COLOR,
        linewidth=1.0,
    )


def wandb_rows(cases, label_names):
    """The cases as rows of a `cxr.tracking.writer.Table` with `TABLE_COLUMNS` (see the module doc)."""
    from cxr.tracking.writer import Image as WandbImage

    class_labels = dict(enumerate(label_names))
    limits = {  # each label's gallery scale, as `draw_gallery` draws it
        label: symmetric_limit([c["signed"] for c in cases if c["label"] == label])
        for label in {c["label"] for c in cases}
    }
    rows = []
    for case in cases:
        truth = [
            _box(b, k, label_names[k])
            for b, k in zip(case["boxes"].tolist(), case["box_labels"], strict=True)
        ]
        found = [
            _box(p["box"], case["label"], _prediction_caption(p), _scores(p))
            for p in case["predictions"]
        ]
        boxes = {
            group: {"box_data": data, "class_labels": class_labels}
            for group, data in zip(BOX_GROUPS, (truth, found), strict=True)
        }
        heat = {HEAT_MASK: {"mask_data": case["heat"], "class_labels": HEAT_CLASSES}}
        limit = limits[case["label"]]
        caption = f"Grad-CAM: {CONSTANT_MAP}" if case["empty"] else None
        scale = f"Grad-CAM before ReLU, {SIGNED_COLORMAP} over -{limit:.3g} .. +{limit:.3g}"
        rows.append(
            [
                label_names[case["label"]],
                SHORT[case["kind"]],
                case["rank"] + 1,
                case["image_id"],
                case["probability"],
                case["threshold"] if math.isfinite(case["threshold"]) else None,
                case["truth"],
                case["empty"],
                WandbImage(case["gray"], caption=caption, boxes=boxes, masks=heat),
                WandbImage(
                    signed_overlay(case["gray"], case["signed"], limit),
                    caption=caption or scale,
                    boxes=boxes,
                ),
            ]
        )
    return rows


def _box(box, class_id, caption, scores=None):
    """A W&B box: positions are fractions of the image, W&B's default domain."""
    ymin, xmin, ymax, xmax = (float(v) for v in box)
    out = {
        "position": {"minX": xmin, "maxX": xmax, "minY": ymin, "maxY": ymax},
        "class_id": int(class_id),
        "box_caption": caption,
    }
    return {**out, "scores": scores} if scores else out


def _scores(prediction):
    """W&B box scores, which its UI filters on: the level, IoBB and IoU where known."""
    return {k: float(prediction[k]) for k in ("level", "iobb", "iou") if k in prediction}


def _prediction_caption(prediction):
    text = f"> {prediction['level']}"
    if "iobb" in prediction:
        text += f" IoBB {prediction['iobb']:.2f} IoU {prediction['iou']:.2f}"
    return text
