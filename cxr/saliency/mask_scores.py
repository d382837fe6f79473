"""Per-map localisation scores against a pixel mask: the truth as pixels, any shape.

    scores = score_map(heatmap, mask)        # {"hit", "pointing", "iou", "auprc"}
    threshold_ious(heatmap, mask)            # (T,) IoUs at fixed thresholds (tuning)

The one owner of these scores: `cxr.saliency.map_scores` scores a box as the mask of
its pixels (`map_scores.box_mask`), SIIM's pneumothorax masks are scored as they are.
`heatmap` and `mask` are (H, W) of the same shape; an empty mask (no pixel inside) has
nothing to find, so callers leave such images out (the hit and IoU would be 0 and the
AUPRC undefined).

- hit: the map's hottest pixel (`cxr.saliency.pointing.peak`'s tie rule: nearest the
  image centre) lies in the mask. CheXlocalize's hit rate (Saporta et al., Nature
  Machine Intelligence 2022; its eval.py) takes numpy's argmax, the first hottest pixel
  in row-major order. An empty (constant) map misses.
- pointing: Zhang et al.'s pointing game, the peak within `tolerance` (a fraction of the
  image side) of the centre of a mask pixel; 0 tolerance is the hit.
- iou: the map min-max scaled to 256 integer levels, binarised above Otsu's threshold
  (scikit-image's `threshold_otsu` on the levels: the level k whose split maximises the
  between-class variance; pixels above k are the segmentation), against the mask; 0 for
  an empty map, which segments nothing.
- auprc: the pixels' map values as scores of "inside the mask", summarised by average
  precision, sum_n (R_n - R_{n-1}) P_n over the distinct values, as scikit-learn's
  `average_precision_score` (Arun et al., Radiology: AI 2021); NaN for an empty mask.

The scores read the map as given: for a signed map, positive evidence ranks highest.
"""

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

from cxr.saliency import pointing

LEVELS = 255  # Otsu's method splits discrete grey levels: an 8-bit image's 0..255


def peak_pixel(heatmap) -> tuple[int, int]:
    """(row, column) of the hottest pixel, ties broken as `pointing.peak` breaks them."""
    height, width = np.shape(heatmap)
    y, x = pointing.peak(heatmap)
    return int(y * height), int(x * width)  # centres at (row + 0.5) / H: floor gives row


def hit(heatmap, mask) -> bool:
    """Whether the map's hottest pixel is in the mask; False for an empty map."""
    if pointing.is_empty(heatmap):
        return False
    return bool(np.asarray(mask, dtype=bool)[peak_pixel(heatmap)])


def near_mask(mask, tolerance: float) -> np.ndarray:
    """Pixels whose centre is within `tolerance` (fraction of the side) of a mask pixel's."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return mask
    height, width = mask.shape
    distance = ndimage.distance_transform_edt(~mask, sampling=(1 / height, 1 / width))
    return distance <= tolerance


def pointing_hit(heatmap, mask, tolerance: float) -> bool:
    """Whether the map's peak is within `tolerance` of the mask; False for an empty map."""
    if pointing.is_empty(heatmap):
        return False
    return bool(near_mask(mask, tolerance)[peak_pixel(heatmap)])


def otsu_segmentation(heatmap) -> np.ndarray:
    """The map's pixels above Otsu's threshold on 256 min-max levels; none for an empty map."""
    heatmap = np.asarray(heatmap, dtype=np.float64)
    if pointing.is_empty(heatmap):
        return np.zeros(heatmap.shape, dtype=bool)
    low, high = heatmap.min(), heatmap.max()
    levels = np.round(LEVELS * (heatmap - low) / (high - low)).astype(np.uint8)
    return levels > threshold_otsu(levels)


def iou(detected, mask) -> float:
    """Intersection over union of two pixel sets; 0 when both are empty."""
    detected, mask = np.asarray(detected, dtype=bool), np.asarray(mask, dtype=bool)
    union = (detected | mask).sum()
    return float((detected & mask).sum() / union) if union else 0.0


def otsu_iou(heatmap, mask) -> float:
    """IoU of the map above Otsu's threshold with the mask; 0 for an empty map."""
    return iou(otsu_segmentation(heatmap), mask)


def pixel_auprc(heatmap, mask) -> float:
    """Average precision of the map's values for the mask's pixels; NaN for an empty mask."""
    scores = np.asarray(heatmap, dtype=np.float64).ravel()
    labels = np.asarray(mask, dtype=bool).ravel()
    if not labels.any():
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    scores, labels = scores[order], labels[order]
    # One threshold per distinct value: the last pixel of each run of equal scores.
    last = np.r_[np.nonzero(np.diff(scores))[0], len(scores) - 1]
    true_positives = np.cumsum(labels)[last]
    precision = true_positives / (last + 1)
    recall = true_positives / labels.sum()
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def threshold_ious(heatmap, mask, thresholds) -> np.ndarray:
    """IoU with the mask of the min-max scaled map above each threshold; zeros for an
    empty (constant) map, which segments nothing."""
    heatmap = np.asarray(heatmap, dtype=np.float64)
    if pointing.is_empty(heatmap):
        return np.zeros(len(thresholds))
    scaled = (heatmap - heatmap.min()) / (heatmap.max() - heatmap.min())
    truth = np.asarray(mask, dtype=bool)
    detected = scaled[None] > np.asarray(thresholds)[:, None, None]
    union = (detected | truth).sum(axis=(1, 2))
    inter = (detected & truth).sum(axis=(1, 2))
    return np.divide(inter, union, out=np.zeros(len(thresholds)), where=union > 0)


def score_map(heatmap, mask, tolerance: float = pointing.ZHANG_TOLERANCE) -> dict:
    """The scores of one map against one mask: {"hit", "pointing", "iou", "auprc"}."""
    return {
        "hit": hit(heatmap, mask),
        "pointing": pointing_hit(heatmap, mask, tolerance),
        "iou": otsu_iou(heatmap, mask),
        "auprc": pixel_auprc(heatmap, mask),
    }
