"""`cxr.saliency.mask_scores` on hand-made masks, against sklearn and brute force."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from cxr.saliency import map_scores, mask_scores, pointing


def blob(shape, rows, cols):
    mask = np.zeros(shape, dtype=bool)
    mask[rows, cols] = True
    return mask


def test_hit_is_the_peak_pixel_in_the_mask():
    mask = blob((20, 20), slice(5, 9), slice(10, 14))
    heatmap = np.zeros((20, 20))
    heatmap[7, 12] = 1.0
    assert mask_scores.hit(heatmap, mask)
    heatmap[7, 12], heatmap[7, 14] = 0.0, 1.0  # one column right of the mask
    assert not mask_scores.hit(heatmap, mask)
    assert not mask_scores.hit(np.ones((20, 20)), mask)  # an empty map points nowhere


def test_a_tie_goes_to_the_peak_nearest_the_centre_not_the_first_in_row_order():
    # CheXlocalize's argmax would take (0, 0), the first hottest pixel: a miss here.
    mask = blob((20, 20), slice(9, 11), slice(9, 11))
    heatmap = np.zeros((20, 20))
    heatmap[0, 0] = heatmap[10, 10] = 1.0
    assert mask_scores.peak_pixel(heatmap) == (10, 10)
    assert np.unravel_index(np.argmax(heatmap), heatmap.shape) == (0, 0)
    assert mask_scores.hit(heatmap, mask)


@pytest.mark.parametrize("seed", range(5))
def test_near_mask_against_brute_force_distances(seed):
    rng = np.random.default_rng(seed)
    height, width = rng.integers(5, 30, size=2)
    mask = rng.random((height, width)) < 0.05
    mask[rng.integers(height), rng.integers(width)] = True
    tolerance = float(rng.uniform(0.02, 0.2))
    ys, xs = (np.arange(height) + 0.5) / height, (np.arange(width) + 0.5) / width
    my, mx = ys[np.nonzero(mask)[0]], xs[np.nonzero(mask)[1]]
    distance = np.sqrt(
        (ys[:, None, None] - my[None, None, :]) ** 2 + (xs[None, :, None] - mx[None, None, :]) ** 2
    ).min(axis=-1)
    # Distances are compared in float64 on both sides; a centre exactly at the tolerance
    # is measure-zero for a uniform draw.
    np.testing.assert_array_equal(mask_scores.near_mask(mask, tolerance), distance <= tolerance)


def test_pointing_tolerance_in_pixels():
    mask = blob((224, 224), slice(100, 120), slice(100, 120))
    heatmap = np.zeros((224, 224))
    tolerance = pointing.ZHANG_TOLERANCE  # 15 px of 1024: 3.28 px of 224
    heatmap[110, 122] = 1  # 3 pixel centres right of the mask's last column
    assert mask_scores.pointing_hit(heatmap, mask, tolerance)
    assert not mask_scores.hit(heatmap, mask)
    heatmap[110, 122], heatmap[110, 123] = 0, 1  # 4 pixels: out of reach
    assert not mask_scores.pointing_hit(heatmap, mask, tolerance)


def brute_force_otsu_levels(heatmap):
    """The 8-bit levels and the level k maximising the between-class variance, by trying all."""
    levels = np.round(255 * (heatmap - heatmap.min()) / np.ptp(heatmap)).astype(int)
    best, best_k = -1.0, None
    for k in range(255):
        low, high = levels[levels <= k], levels[levels > k]
        if len(low) == 0 or len(high) == 0:
            continue
        between = len(low) * len(high) * (low.mean() - high.mean()) ** 2
        if between > best:
            best, best_k = between, k
    return levels, best_k


@pytest.mark.parametrize("seed", range(5))
def test_otsu_iou_against_brute_force_threshold(seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:32, :32]
    centre = rng.integers(8, 24, size=2)
    heatmap = np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / 40.0)
    heatmap += 0.05 * rng.random((32, 32))
    mask = rng.random((32, 32)) < 0.3
    mask[centre[0] - 3 : centre[0] + 3, centre[1] - 3 : centre[1] + 3] = True
    levels, k = brute_force_otsu_levels(heatmap)
    detected = levels > k
    expected = (detected & mask).sum() / (detected | mask).sum()
    assert mask_scores.otsu_iou(heatmap, mask) == pytest.approx(expected, abs=1e-12)
    assert mask_scores.otsu_iou(np.zeros((32, 32)), mask) == 0.0  # empty map: nothing


@pytest.mark.parametrize("seed", range(6))
def test_pixel_auprc_equals_sklearns_average_precision(seed):
    rng = np.random.default_rng(seed)
    heatmap = np.round(rng.random((24, 24)) * 8) / 8  # 9 levels: many ties
    mask = rng.random((24, 24)) < rng.uniform(0.02, 0.5)
    mask[0, 0] = True
    expected = average_precision_score(mask.ravel(), heatmap.ravel())
    assert mask_scores.pixel_auprc(heatmap, mask) == pytest.approx(expected, abs=1e-12)
    assert np.isnan(mask_scores.pixel_auprc(heatmap, np.zeros_like(mask)))


def test_threshold_ious_by_hand():
    heatmap = np.array([[0.0, 0.25], [0.5, 1.0]]) * 4 + 1  # min-max scaled: 0, .25, .5, 1
    mask = np.array([[False, False], [True, True]])
    # above 0.2: {.25, .5, 1} vs {.5, 1}: 2/3; above 0.4: exactly the mask; above 0.9: 1/2.
    ious = mask_scores.threshold_ious(heatmap, mask, (0.2, 0.4, 0.9))
    np.testing.assert_allclose(ious, [2 / 3, 1.0, 0.5], atol=1e-12)
    np.testing.assert_array_equal(mask_scores.threshold_ious(np.ones((2, 2)), mask, (0.5,)), [0])


def test_a_box_scores_as_the_mask_of_its_pixels():
    rng = np.random.default_rng(3)
    heatmap = rng.random((20, 20))
    box = [0.2, 0.3, 0.6, 0.55]
    as_box = map_scores.score_map(heatmap, box)
    as_mask = mask_scores.score_map(heatmap, map_scores.box_mask(box, (20, 20)))
    assert as_box["hit"] == as_mask["hit"]
    assert as_box["iou"] == as_mask["iou"] and as_box["auprc"] == as_mask["auprc"]
