"""Grad-CAM galleries: per pathology, the model's best hits and worst mistakes.

For each label, `select_cases` picks test images by rank of the predicted
probability (no decision threshold):

    true_positive   the positives with the highest probability
    false_positive  the negatives with the highest probability
    false_negative  the positives with the lowest probability

`draw_gallery` draws each as the X-ray beside its Grad-CAM overlay, with the
probability, the true labels and NIH's box for that label where the image has
one; `wandb_rows` gives the same cases as W&B table rows with the boxes as box
overlays. A map with no positive evidence (all zero after Grad-CAM's ReLU) is
never drawn as an overlay: `overlay` returns the X-ray dimmed and marked
`EMPTY_MAP`, so it cannot pass for a map that found nothing hot.
"""

import textwrap

import matplotlib
import numpy as np
from matplotlib import patches
from matplotlib.figure import Figure
from PIL import Image, ImageDraw

KINDS = ("true_positive", "false_positive", "false_negative")
_SHORT = {"true_positive": "TP", "false_positive": "FP", "false_negative": "FN"}
_BOX_COLOR = "lime"  # stands out on both gray and jet
ROWS_TITLE = (
    "Grad-CAM of the most confident true positives / false positives (highest p among "
    "negatives) / false negatives (lowest p among positives); green: NIH box"
)
TABLE_COLUMNS = ("label", "kind", "rank", "image_id", "probability", "truth", "xray", "gradcam")
EMPTY_MAP = "no positive evidence"  # the words on a Grad-CAM map that is all zero


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


def is_empty(heatmap) -> bool:
    """Whether a Grad-CAM map holds no positive evidence (all zero)."""
    return not np.any(np.asarray(heatmap) > 0)


def overlay(gray, heatmap, alpha=0.6, colormap="jet"):
    """Blends a colour-mapped heatmap onto a gray X-ray; an empty map is marked as such.

    Each pixel's colour weight is `alpha * heatmap`, so cold regions keep the
    plain X-ray and hot ones take the colormap's hot end. An all-zero map would
    leave the plain X-ray, which looks like a working overlay that found nothing:
    instead the X-ray is dimmed and crossed by a band reading `EMPTY_MAP`.

    Args:
        gray: uint8 (H, W) image.
        heatmap: (H, W) values in [0, 1].
        alpha: Colour weight at heatmap value 1.
        colormap: A matplotlib colormap name.

    Returns:
        uint8 RGB (H, W, 3).
    """
    if is_empty(heatmap):
        return _marked_empty(gray)
    heatmap = np.clip(np.asarray(heatmap, dtype=np.float32), 0.0, 1.0)[..., None]
    colors = matplotlib.colormaps[colormap](heatmap[..., 0])[..., :3]
    base = np.repeat(np.asarray(gray, dtype=np.float32)[..., None] / 255.0, 3, axis=-1)
    rgb = (1.0 - alpha * heatmap) * base + alpha * heatmap * colors
    return np.round(rgb * 255.0).astype(np.uint8)


def _marked_empty(gray):
    """The X-ray at half brightness with a dark band and the words `EMPTY_MAP`."""
    rgb = np.repeat(np.asarray(gray, dtype=np.uint8)[..., None] // 2, 3, axis=-1)
    image = Image.fromarray(rgb)
    draw = ImageDraw.Draw(image)
    height, width = rgb.shape[:2]
    band = max(height // 8, 12)
    top = (height - band) // 2
    draw.rectangle((0, top, width, top + band), fill=(40, 40, 40))
    text = EMPTY_MAP if width >= 128 else "empty"
    draw.text((4, top + band // 2), text, fill=(255, 255, 255), anchor="lm")
    return np.asarray(image)


def case(*, label, kind, rank, image_id, probability, truth, gray, heatmap, boxes, box_labels):
    """One gallery case: what `draw_gallery` and `wandb_rows` show of one image and label."""
    return dict(
        label=label,
        kind=kind,
        rank=rank,
        image_id=image_id,
        probability=float(probability),
        truth=truth,
        gray=gray,
        overlay=overlay(gray, heatmap),
        empty=is_empty(heatmap),
        boxes=np.reshape(boxes, (-1, 4)),
        box_labels=np.reshape(box_labels, -1).astype(int),
    )


def truth_text(multi_hot, label_names):
    """The true labels as text, "No Finding" for none (NIH's own word)."""
    names = [name for name, y in zip(label_names, multi_hot, strict=True) if y > 0.5]
    return ", ".join(names) or "No Finding"


def draw_gallery(cases, *, title, per_kind) -> Figure:
    """Draws the cases of one label as one image grid: a row per kind, X-ray | overlay."""
    size = cases[0]["gray"].shape[0]
    gap, band = size // 16, size // 5  # between cases; above each row, for the captions
    cell_w, cell_h = 2 * size + gap, size + band
    canvas = np.full((band + len(KINDS) * cell_h, per_kind * cell_w, 3), 255, dtype=np.uint8)
    # One axes showing one canvas: Matplotlib's cost is per axes, not per pixel.
    inches = 2.2 / size  # figure inches per image pixel: 2.2 inches per image
    fig = Figure(figsize=(canvas.shape[1] * inches, canvas.shape[0] * inches))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.text(gap, band * 0.5, title, fontsize=11, va="center")
    for case in cases:
        x0 = case["rank"] * cell_w
        y0 = band + KINDS.index(case["kind"]) * cell_h + band
        canvas[y0 : y0 + size, x0 : x0 + size] = case["gray"][..., None]
        canvas[y0 : y0 + size, x0 + size : x0 + 2 * size] = case["overlay"]
        caption = (
            f"{_SHORT[case['kind']]} {case['rank'] + 1}  p={case['probability']:.3f}  "
            f"{case['image_id']}{'  Grad-CAM: ' + EMPTY_MAP if case['empty'] else ''}\n"
            f"{textwrap.shorten(case['truth'], 70, placeholder=' ...')}"
        )
        ax.text(x0, y0 - band * 0.08, caption, fontsize=7, va="bottom")
        for box in case["boxes"][case["box_labels"] == case["label"]]:
            for left in (x0, x0 + size):
                ax.add_patch(_rectangle(box, size, left, y0))
    ax.imshow(canvas, interpolation="nearest")
    fig.set_dpi(max(size / 2.2, 80))
    return fig


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
    """The cases as rows of a `cxr.writer.Table` with `TABLE_COLUMNS`, NIH boxes as box overlays."""
    from cxr.writer import Image as WandbImage

    class_labels = dict(enumerate(label_names))
    rows = []
    for case in cases:
        box_data = [
            {
                "position": {"minX": b[1], "maxX": b[3], "minY": b[0], "maxY": b[2]},
                "class_id": int(k),
                "box_caption": label_names[k],
            }
            for b, k in zip(case["boxes"].tolist(), case["box_labels"], strict=True)
        ]
        # Positions are fractions of the image, W&B's default domain.
        boxes = {"ground_truth": {"box_data": box_data, "class_labels": class_labels}}
        boxes = boxes if box_data else None
        caption = f"Grad-CAM: {EMPTY_MAP}" if case["empty"] else None
        rows.append(
            [
                label_names[case["label"]],
                case["kind"],
                case["rank"] + 1,
                case["image_id"],
                case["probability"],
                case["truth"],
                WandbImage(case["gray"], boxes=boxes),
                WandbImage(case["overlay"], caption=caption, boxes=boxes),
            ]
        )
    return rows
