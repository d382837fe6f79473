"""Grad-CAM galleries: per pathology, the model's best hits and worst mistakes.

For each label, `write_galleries` picks test images by rank of the predicted
probability (no decision threshold):

    true_positive   the positives with the highest probability
    false_positive  the negatives with the highest probability
    false_negative  the positives with the lowest probability

and draws each as the X-ray beside its Grad-CAM overlay, with the probability,
the true labels and NIH's box for that label where the image has one. It
writes one PNG per label (`<out_dir>/<Label>.png`) and, given a W&B run, logs
all cases as one W&B Table with the boxes as W&B box overlays.
"""

import pathlib
import textwrap

import matplotlib
import numpy as np
from matplotlib import patches
from matplotlib.figure import Figure

KINDS = ("true_positive", "false_positive", "false_negative")
_SHORT = {"true_positive": "TP", "false_positive": "FP", "false_negative": "FN"}
_BOX_COLOR = "lime"  # stands out on both gray and jet
_ROWS = (
    "Grad-CAM of the most confident true positives / false positives (highest p among "
    "negatives) / false negatives (lowest p among positives); green: NIH box"
)
TABLE_COLUMNS = ("label", "kind", "rank", "image_id", "probability", "truth", "xray", "gradcam")


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
    """Blends a colour-mapped heatmap onto a gray X-ray.

    Each pixel's colour weight is `alpha * heatmap`, so cold regions keep the
    plain X-ray and hot ones take the colormap's hot end.

    Args:
        gray: uint8 (H, W) image.
        heatmap: (H, W) values in [0, 1].
        alpha: Colour weight at heatmap value 1.
        colormap: A matplotlib colormap name.

    Returns:
        uint8 RGB (H, W, 3).
    """
    heatmap = np.clip(np.asarray(heatmap, dtype=np.float32), 0.0, 1.0)[..., None]
    colors = matplotlib.colormaps[colormap](heatmap[..., 0])[..., :3]
    base = np.repeat(np.asarray(gray, dtype=np.float32)[..., None] / 255.0, 3, axis=-1)
    rgb = (1.0 - alpha * heatmap) * base + alpha * heatmap * colors
    return np.round(rgb * 255.0).astype(np.uint8)


def write_galleries(
    out_dir,
    images,
    probs,
    labels,
    heatmaps_fn,
    boxes,
    box_labels,
    label_names,
    per_kind,
    wandb_run=None,
    image_ids=None,
    table_key="gradcam/gallery",
):
    """Writes one gallery PNG per label and, with a run, a W&B Table of all cases.

    Args:
        out_dir: Folder for the PNGs, e.g. `<run_dir>/gradcam`; created.
        images: uint8 gray images (N, S, S) (or (N, S, S, 1)).
        probs: Predicted probabilities (N, L).
        labels: Multi-hot truth (N, L).
        heatmaps_fn: Called once as `heatmaps_fn(indices, class_indices)` with
            two int arrays (M,) for all selected cases; returns heatmaps
            (M, S, S) in [0, 1], e.g. `lambda i, c: gradcam(model, x[i], c)`.
        boxes: Per image, its NIH boxes (K_i, 4) normalised `[ymin, xmin, ymax,
            xmax]` (K_i may be 0); or None.
        box_labels: Per image, the label index of each box (K_i,); or None.
        label_names: The L label names, in column order.
        per_kind: Images per kind and label (see `select_cases`).
        wandb_run: A W&B run to log the table to, or None.
        image_ids: Optional names of the N images, shown in titles and table.
        table_key: The W&B key of the table.

    Returns:
        The paths of the PNGs written, one per label with at least one case.
    """
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    images = np.asarray(images).reshape(len(probs), *np.shape(images)[1:3])
    probs, labels = np.asarray(probs), np.asarray(labels)
    picks = [  # (label index, kind, rank, image index)
        (label, kind, rank, int(index))
        for label in range(len(label_names))
        for kind, indices in select_cases(probs, labels, label, per_kind).items()
        for rank, index in enumerate(indices)
    ]
    if not picks:
        return []
    heatmaps = heatmaps_fn(
        np.array([p[3] for p in picks], dtype=np.int64),
        np.array([p[0] for p in picks], dtype=np.int64),
    )
    cases = []
    for (label, kind, rank, index), heatmap in zip(picks, heatmaps, strict=True):
        has_boxes = boxes is not None and len(boxes[index]) > 0
        cases.append(
            dict(
                label=label,
                kind=kind,
                rank=rank,
                image_id=str(image_ids[index]) if image_ids is not None else str(index),
                probability=float(probs[index, label]),
                truth=_truth(labels[index], label_names),
                gray=images[index],
                overlay=overlay(images[index], heatmap),
                boxes=np.reshape(boxes[index], (-1, 4)) if has_boxes else np.zeros((0, 4)),
                box_labels=np.reshape(box_labels[index], -1) if has_boxes else np.zeros(0, int),
            )
        )

    paths = []
    for label, name in enumerate(label_names):
        mine = [case for case in cases if case["label"] == label]
        if mine:
            paths.append(out_dir / f"{name}.png")
            _draw_gallery(paths[-1], f"{name}: {_ROWS}", mine, per_kind)
    if wandb_run is not None:
        _log_table(wandb_run, table_key, cases, label_names)
    return paths


def _truth(multi_hot, label_names):
    """The true labels as text, "No Finding" for none (NIH's own word)."""
    names = [name for name, y in zip(label_names, multi_hot, strict=True) if y > 0.5]
    return ", ".join(names) or "No Finding"


def _draw_gallery(path, title, cases, per_kind):
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
            f"{case['image_id']}\n{textwrap.shorten(case['truth'], 70, placeholder=' ...')}"
        )
        ax.text(x0, y0 - band * 0.08, caption, fontsize=7, va="bottom")
        for box in case["boxes"][case["box_labels"] == case["label"]]:
            for left in (x0, x0 + size):
                ax.add_patch(_rectangle(box, size, left, y0))
    ax.imshow(canvas, interpolation="nearest")
    fig.savefig(path, dpi=max(size / 2.2, 80))


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


def _log_table(run, key, cases, label_names):
    """Logs all cases as a W&B Table, every NIH box of an image as a box overlay."""
    import wandb

    class_labels = dict(enumerate(label_names))
    table = wandb.Table(columns=list(TABLE_COLUMNS))
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
        table.add_data(
            label_names[case["label"]],
            case["kind"],
            case["rank"] + 1,
            case["image_id"],
            case["probability"],
            case["truth"],
            wandb.Image(case["gray"], boxes=boxes),
            wandb.Image(case["overlay"], boxes=boxes),
        )
    run.log({key: table})
