"""Per-map localisation scores against hand values, a brute-force Otsu and scikit-learn."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from cxr.saliency import map_scores


def test_hit_is_the_peak_in_the_box_without_tolerance():
    heatmap = np.zeros((20, 20))
    heatmap[5, 10] = 1.0  # centre at (0.275, 0.525)
    assert map_scores.score_map(heatmap, [0.25, 0.5, 0.3, 0.55])["hit"]
    # 0.005 of the side (0.1 px) short of the centre: a miss, whatever Zhang's 15 px allow.
    assert not map_scores.score_map(heatmap, [0.25, 0.5, 0.27, 0.55])["hit"]
    assert not map_scores.score_map(np.zeros((20, 20)), [0, 0, 1, 1])["hit"]  # empty map


def _brute_force_otsu_mask(heatmap):
    """The split between distinct values maximising the between-class variance (Otsu 1979)."""
    values = np.unique(heatmap)
    best, mask = -1.0, None
    for low, high in zip(values[:-1], values[1:], strict=True):
        above = heatmap > (low + high) / 2
        w1 = above.mean()
        between = w1 * (1 - w1) * (heatmap[above].mean() - heatmap[~above].mean()) ** 2
        if between > best:
            best, mask = between, above
    return mask


def test_otsu_iou_matches_a_brute_force_threshold():
    heatmap = np.zeros((20, 20))
    heatmap[2:14, 2:14] = 0.3  # a rim
    heatmap[4:10, 4:10] = 1.0  # a core
    box = [0.3, 0.2, 0.6, 0.5]  # pixel centres in rows 6..11, columns 4..9
    truth = np.zeros((20, 20), bool)
    truth[6:12, 4:10] = True
    np.testing.assert_array_equal(map_scores.box_mask(box, (20, 20)), truth)
    mask = _brute_force_otsu_mask(heatmap)
    expected = (mask & truth).sum() / (mask | truth).sum()
    assert map_scores.otsu_iou(heatmap, box) == pytest.approx(expected, abs=1e-12)
    # Otsu's threshold depends on the levels' order and spacing, not their scale.
    assert map_scores.otsu_iou(3 * heatmap + 1, box) == pytest.approx(expected, abs=1e-12)
    assert map_scores.otsu_iou(np.ones((20, 20)), box) == 0.0  # constant: segments nothing
    # Many levels: 0..255 already, so the 8-bit scaling leaves them as they are.
    levels = np.random.default_rng(1).integers(0, 256, (20, 20)).astype(float)
    levels.flat[:2] = 0, 255
    mask = _brute_force_otsu_mask(levels)
    expected = (mask & truth).sum() / (mask | truth).sum()
    assert map_scores.otsu_iou(levels, box) == pytest.approx(expected, abs=1e-12)


def test_pixel_auprc_matches_scikit_learn_with_ties():
    rng = np.random.default_rng(0)
    box = [0.1, 0.3, 0.6, 0.8]
    for heatmap in [
        rng.normal(0, 1, (16, 16)),
        np.round(rng.uniform(0, 1, (16, 16)), 1),  # many ties
        np.full((16, 16), 0.5),  # one threshold: precision = share of box pixels
    ]:
        labels = map_scores.box_mask(box, heatmap.shape).ravel()
        expected = average_precision_score(labels, heatmap.ravel())
        # The same sums in another order: float64 rounding only.
        assert map_scores.pixel_auprc(heatmap, box) == pytest.approx(expected, abs=1e-12)
    assert np.isnan(map_scores.pixel_auprc(np.zeros((4, 4)), [0.0, 0.0, 0.1, 0.1]))


def test_summarize_averages_per_map_scores():
    rows = [
        {"hit": True, "iou": 0.5, "auprc": 0.2},
        {"hit": False, "iou": 0.0, "auprc": float("nan")},
        {"hit": True, "iou": 0.25, "auprc": 0.6},
    ]
    summary = map_scores.summarize(rows)
    assert summary == pytest.approx({"hit_rate": 2 / 3, "miou": 0.25, "auprc": 0.4, "maps": 3})
