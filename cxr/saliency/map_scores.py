"""Per-map localisation scores against a ground-truth box, scored as each map is made.

    rows = [score_map(heatmap, box) for heatmap, box in ...]  # scalars kept, never maps
    summarize(rows)  # {"hit_rate", "miou", "auprc", "maps"}

- hit (CheXlocalize's hit rate; Saporta et al., Nature Machine Intelligence 2022,
  "Benchmarking saliency methods for chest X-ray interpretation"): the map's hottest
  pixel lies in the box, no tolerance. `cxr.saliency.pointing.pointing_hit` with
  tolerance 0 is the one definition (its tie rule; an empty map misses).
- iou (CheXlocalize's mIoU, per map): the map binarised at Otsu's threshold
  (Otsu, IEEE SMC 1979) against the box's pixels; 0 for an empty (constant) map,
  which segments nothing. Otsu's method splits discrete grey levels, so the map is
  first min-max scaled to 256 integer levels (an 8-bit image); the threshold is then
  a level k (scikit-image's `threshold_otsu` on integers) and the map's pixels above
  level k are the segmentation. Our choice: on float maps scikit-image thresholds at
  a histogram bin's centre, which splits the pixels of that bin (a 3-level map, 0,
  0.3 and 1, gets 0.2988 and the 0.3 pixels counted above it).
- auprc (Arun et al., Radiology: AI 2021): the pixels' map values as scores of
  "inside the box" (pixels whose centres lie in the box, edges included), summarised
  by average precision, sum_n (R_n - R_{n-1}) P_n over the distinct values, as
  scikit-learn's `average_precision_score`; NaN when no pixel centre lies in the box.

The IoU and AUPRC are `cxr.saliency.mask_scores`'s on the box's pixels (`box_mask`): one
definition for boxes and pixel masks. The scores read the map as given: for a signed map
(`METHODS[m].signed`), positive evidence ranks highest; pass `abs(map)` to score
magnitude instead.
"""

import numpy as np

from cxr.saliency import mask_scores, pointing


def box_mask(box, shape):
    """Pixels (H, W) whose centres lie in the normalised box [ymin, xmin, ymax, xmax]."""
    height, width = shape
    ys = (np.arange(height) + 0.5) / height
    xs = (np.arange(width) + 0.5) / width
    inside_y = (ys >= box[0]) & (ys <= box[2])
    inside_x = (xs >= box[1]) & (xs <= box[3])
    return inside_y[:, None] & inside_x[None, :]


def otsu_iou(heatmap, box):
    """IoU of the map above Otsu's threshold with the box's pixels; 0 for an empty map."""
    return mask_scores.otsu_iou(heatmap, box_mask(box, np.shape(heatmap)))


def pixel_auprc(heatmap, box):
    """Average precision of the map's values for the box's pixels; NaN if the box has none."""
    return mask_scores.pixel_auprc(heatmap, box_mask(box, np.shape(heatmap)))


def score_map(heatmap, box):
    """The three scores of one map for one box: {"hit", "iou", "auprc"}."""
    return {
        "hit": pointing.pointing_hit(heatmap, box, tolerance=0.0),
        "iou": otsu_iou(heatmap, box),
        "auprc": pixel_auprc(heatmap, box),
    }


def summarize(rows):
    """Hit rate, mIoU and mean AUPRC (over the maps where it is defined) of `score_map` rows."""
    rows = list(rows)
    auprcs = [r["auprc"] for r in rows if not np.isnan(r["auprc"])]
    return {
        "hit_rate": float(np.mean([r["hit"] for r in rows])) if rows else float("nan"),
        "miou": float(np.mean([r["iou"] for r in rows])) if rows else float("nan"),
        "auprc": float(np.mean(auprcs)) if auprcs else float("nan"),
        "maps": len(rows),
    }
