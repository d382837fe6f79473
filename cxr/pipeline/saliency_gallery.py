"""The saliency study's gallery: every method's map of the same (image, region) pairs side
by side, on one diverging scale, as a figure and as a W&B table (`saliency_report.result`
writes them).
"""

import numpy as np
from matplotlib import patches
from matplotlib.figure import Figure

from cxr.saliency import gallery
from cxr.tracking import writer

GALLERY_SCALE = (
    f"Every map on one diverging scale ({gallery.SIGNED_COLORMAP}: red for the label, blue "
    "against, white 0), to each panel's largest |value|; Grad-CAM and Grad-CAM++ are "
    "ReLU'd, so never blue. Green: the box scored (NIH's, or another's with --boxes)"
)


def panel(gray, heatmap):
    """A map over its X-ray, on the scale of every panel (`GALLERY_SCALE`).

    One scale family for every method: a signed map spans both halves of the diverging
    scale, a ReLU'd one ([0, 1], Grad-CAM's) its red half, so a colour means the same
    sign in every column.
    """
    return gallery.signed_overlay(gray, heatmap, gallery.symmetric_limit([heatmap]))


def gallery_figure(kept, methods, label_names) -> Figure:
    """Rows: (image, box) pairs; columns: the X-ray, then each method; the box in green."""
    figure = Figure(figsize=(2.2 * (len(methods) + 1), 2.4 * len(kept)), dpi=100)
    axes = figure.subplots(len(kept), len(methods) + 1, squeeze=False)
    for row, case in zip(axes, kept, strict=True):
        images = [np.repeat(case["gray"][..., None], 3, axis=-1)]
        images += [panel(case["gray"], case["maps"][m]) for m in methods]
        for ax, image, title in zip(row, images, ["X-ray", *methods], strict=True):
            ax.imshow(image)
            _draw_region(ax, np.asarray(case["box"]), image.shape[0])
            ax.set_axis_off()
            ax.set_title(title, fontsize=8)
        row[0].set_title(f"{case['image_id']}\n{label_names[case['label']]}", fontsize=7)
    figure.suptitle(GALLERY_SCALE, fontsize=8, wrap=True)
    figure.tight_layout()
    return figure


def _draw_region(ax, region, size):
    """The truth in green: a (4,) normalised box as a rectangle, a 2-D mask as its outline."""
    if region.ndim == 2:
        ax.contour(region.astype(float), levels=[0.5], colors="lime", linewidths=1)
        return
    ymin, xmin, ymax, xmax = region * size
    ax.add_patch(
        patches.Rectangle((xmin, ymin), xmax - xmin, ymax - ymin, fill=False, color="lime")
    )


def gallery_table(kept, methods, label_names):
    """The gallery as a W&B table: one image column per method, the box on each (a mask
    region: none drawn; the gallery figure outlines it)."""
    rows = []
    for case in kept:
        label = label_names[case["label"]]
        if np.ndim(case["box"]) == 2:
            cells = [writer.Image(panel(case["gray"], case["maps"][m]), caption=m) for m in methods]
            rows.append([case["image_id"], label, writer.Image(case["gray"]), *cells])
            continue
        ymin, xmin, ymax, xmax = (float(v) for v in case["box"])
        box = {
            "position": {"minX": xmin, "maxX": xmax, "minY": ymin, "maxY": ymax},
            "class_id": int(case["label"]),
            "box_caption": label,
        }
        boxes = {"ground_truth": {"box_data": [box], "class_labels": dict(enumerate(label_names))}}
        cells = [
            writer.Image(panel(case["gray"], case["maps"][m]), caption=m, boxes=boxes)
            for m in methods
        ]
        rows.append([case["image_id"], label, writer.Image(case["gray"], boxes=boxes), *cells])
    return writer.Table(columns=["image_id", "label", "xray", *methods], rows=rows)
