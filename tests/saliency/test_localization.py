"""Wang et al.'s boxes, AFP and T, the pointing game and its baselines, on hand-made heatmaps.

Unless a test says otherwise, one hand-made map stands for both the CAM grid (Wang et
al.'s sets) and the Grad-CAM heatmap (pointing, Wang-style upsampled sets).
"""

import itertools
import math

import numpy as np
import pytest
import scipy.stats

from cxr.saliency import localization, localization_report, pointing
from cxr.stats import published
from cxr_tfds.labels import LABELS

MASS, NODULE = LABELS.index("Mass"), LABELS.index("Nodule")


def blob(size=8, rows=(2, 4), cols=(2, 4), value=1.0, heatmap=None):
    heatmap = np.zeros((size, size)) if heatmap is None else heatmap
    heatmap[rows[0] : rows[1], cols[0] : cols[1]] = value
    return heatmap


def score(heatmaps, boxes, **kwargs):
    kwargs.setdefault("cams", np.asarray(heatmaps))
    return localization.score_boxes(
        heatmaps=np.asarray(heatmaps), boxes=np.asarray(boxes), **kwargs
    )


def bilinear(cam, size):
    """Half-pixel-centre bilinear upsampling, as Grad-CAM's resize does; edges held flat."""
    src = (np.arange(size) + 0.5) * cam.shape[0] / size - 0.5
    grid = np.arange(cam.shape[0])
    rows = np.stack([np.interp(src, grid, column) for column in cam.T], axis=1)
    return np.stack([np.interp(src, grid, row) for row in rows])


# --- Wang et al.'s boxes ------------------------------------------------------------------


def test_two_separate_blobs_give_two_boxes_with_pixel_edges():
    heatmap = blob(rows=(0, 2), cols=(0, 2), heatmap=blob(rows=(5, 7), cols=(4, 8)))
    np.testing.assert_array_equal(
        localization.predicted_boxes(heatmap, 60), [[0, 0, 0.25, 0.25], [0.625, 0.5, 0.875, 1.0]]
    )
    heatmap[2, 2] = heatmap[3:5, 3] = (
        1.0  # a chain touching both at corners: 8-connected, one region
    )
    np.testing.assert_array_equal(localization.predicted_boxes(heatmap, 60), [[0, 0, 0.875, 1.0]])
    assert localization.predicted_boxes(np.zeros((8, 8)), 60).shape == (0, 4)


def test_the_map_is_scaled_to_0_255_and_each_level_keeps_what_is_above_it():
    heatmap = np.full((8, 8), 100.0)  # any range: min-max scaled, so 100 -> 0 and 355 -> 255
    heatmap[0, 0], heatmap[0, 7], heatmap[7, 0], heatmap[7, 7] = 355.0, 160.0, 161.0, 280.0
    # Scaled: (0, 0) 255, (0, 7) 60 (not above 60), (7, 0) 61, (7, 7) 180 (not above 180).
    assert len(localization.predicted_boxes(heatmap, 60)) == 3  # 255, 61 and 180
    np.testing.assert_array_equal(
        localization.predicted_boxes(heatmap, 180), [[0, 0, 0.125, 0.125]]
    )


def test_overlaps_by_hand():
    detected, truth = np.array([0.0, 0.0, 0.5, 0.5]), np.array([0.25, 0.25, 1.0, 1.0])
    assert localization.iou(detected, truth) == pytest.approx(0.0625 / (0.25 + 0.5625 - 0.0625))
    assert localization.iobb(detected, truth) == pytest.approx(0.0625 / 0.25)
    inside = np.array([0.5, 0.5, 0.75, 0.75])
    assert localization.iobb(inside, truth) == 1.0 and localization.iou(
        inside, truth
    ) == pytest.approx(1 / 9)
    assert (
        localization.iobb(np.zeros(4), truth) == 0.0
        and localization.iou(detected, [0.6, 0.6, 0.9, 0.9]) == 0.0
    )


def test_a_hit_needs_iobb_strictly_above_t():
    """The detected box is [0.25, 0.25, 0.5, 0.5]; the truth covers its left half: IoBB = 0.5 exactly."""
    s = score([blob()], [[0.25, 0.25, 0.5, 0.375]])
    for name in localization.BOX_SETS:  # each level boxes the blob once, alone
        hits = dict(zip(localization.IOBB_THRESHOLDS, s[f"{name}/hit_iobb"][0], strict=True))
        assert hits == {0.1: True, 0.25: True, 0.5: False, 0.75: False, 0.9: False}
        # One detection per level; not above T, it is a false positive.
        np.testing.assert_array_equal(s[f"{name}/fp_iobb"][0], [0, 0, 1, 1, 1])
        assert s[f"{name}/boxes"][0] == 1
    iou = dict(
        zip(localization.IOU_THRESHOLDS, s["wang60/hit_iou"][0], strict=True)
    )  # IoU = 0.5 exactly
    assert iou[0.4] and not iou[0.5]


def test_every_region_is_a_detection_and_the_others_are_false_positives():
    heatmap = blob(rows=(5, 7), cols=(5, 7), heatmap=blob(value=0.5))  # scaled: 127.5 and 255
    s = score([heatmap], [[0.25, 0.25, 0.5, 0.5]])  # the truth is the dimmer blob
    assert s["wang60/boxes"][0] == 2 and s["wang180/boxes"][0] == 1
    assert s["wang60/hit_iobb"][0].all() and s["wang60/fp_iobb"][0].tolist() == [1] * 5
    assert not s["wang180/hit_iobb"][0].any() and s["wang180/fp_iobb"][0].tolist() == [1] * 5
    assert s["pointing"][0] == 0  # the peak is the hot blob


def test_an_empty_map_misses_everything_and_is_counted():
    s = score([np.zeros((8, 8)), blob()], [[0, 0, 1, 1]] * 2)
    np.testing.assert_array_equal(s["empty"], [True, False])
    assert not s["pointing"][0] and not s["pointing_tol"][0] and s["pointing"][1]
    for name in localization.BOX_SETS:
        assert not s[f"{name}/hit_iobb"][0].any() and not s[f"{name}/fp_iobb"][0].any()
        assert s[f"{name}/boxes"][0] == 0 and s[f"{name}/hit_iobb"][1].all()


# --- The audit's four reproductions: where the upsampled ReLU'd map and Wang et al. part ---


def test_relu_deletes_negative_evidence_that_wangs_raw_map_boxes():
    """Wang et al.'s heatmap has no ReLU: min-max of the raw map always has a region above 180."""
    raw = np.full((5, 5), -3.0)  # borders -3, ring 0.2, centre 1.0
    raw[1:4, 1:4] = 0.2
    raw[2, 2] = 1.0
    # Raw, scaled by 255 / 4 after + 3: ring (0.2 + 3) * 63.75 = 204, above both levels.
    ring = [[1 / 5, 1 / 5, 4 / 5, 4 / 5]]
    # ReLU'd: ring 0.2 of the maximum = 51, under 60: only the centre cell is on.
    centre = [[2 / 5, 2 / 5, 3 / 5, 3 / 5]]
    for level in localization.WANG_LEVELS:
        np.testing.assert_array_equal(localization.predicted_boxes(raw, level), ring)
        np.testing.assert_array_equal(
            localization.predicted_boxes(np.maximum(raw, 0), level), centre
        )
    negative = np.full((5, 5), -2.0)
    negative[0, 4] = -1.0  # all negative, one cell less so: raw, that cell is the box
    np.testing.assert_array_equal(localization.predicted_boxes(negative, 180), [[0, 0.8, 0.2, 1]])
    assert localization.predicted_boxes(np.maximum(negative, 0), 180).shape == (0, 4)


def test_boxes_on_the_grid_fit_a_cell_that_upsampled_boxes_do_not():
    """A 7 x 7 map hot in cell (3, 3); the truth box is that cell. 224 px = 32 px per cell."""
    cam = np.zeros((7, 7))
    cam[3, 3] = 1.0
    truth = np.array([3, 3, 4, 4]) / 7
    for level in localization.WANG_LEVELS:
        np.testing.assert_allclose(localization.predicted_boxes(cam, level), [truth])
    # Upsampled, the cell is a tent: (1 - |dy|)(1 - |dx|) in cells from its centre; pixel
    # centres sit at dy, dx = (k + 0.5) / 32, so the maximum is (63/64)^2, and on the row
    # through it a pixel is above level L when 1 - |dx| > (L / 255) * 63 / 64:
    # |dx| < 0.768 at 60 (k <= 24: 25 px a side), |dx| < 0.305 at 180 (k <= 9: 10 px).
    up = bilinear(cam, 224)
    for level, pixels in ((60, 50), (180, 20)):  # 1.5625 and 0.625 cells
        low, high = 0.5 - pixels / 448, 0.5 + pixels / 448
        np.testing.assert_allclose(
            localization.predicted_boxes(up, level), [[low, low, high, high]]
        )
    # IoBB: at 60 the box holds the cell, (32 / 50)^2 = 0.4096; at 180 it lies in the cell, 1.
    s = score([up], [truth], cams=[cam])
    iobb50 = list(localization.IOBB_THRESHOLDS).index(0.5)
    assert s["wang60/hit_iobb"][0].all() and s["wang180/hit_iobb"][0].all()  # IoBB 1 on the grid
    assert not s["up60/hit_iobb"][0][iobb50] and s["up180/hit_iobb"][0].all()
    (box,) = localization.predicted_boxes(up, 60)
    assert localization.iobb(box, truth) == pytest.approx(0.4096)


def test_levels_are_never_pooled_so_one_region_is_never_two_false_positives():
    """hm[1, 1] = 1 on an 8 x 8 grid; the truth, [.5, .5, .9, .9] in cells, misses that cell."""
    heatmap = np.zeros((8, 8))
    heatmap[1, 1] = 1.0
    truth = np.array([0.5, 0.5, 0.9, 0.9]) / 8
    cell = [1 / 8, 1 / 8, 2 / 8, 2 / 8]
    for level in localization.WANG_LEVELS:  # both levels find the same box ...
        np.testing.assert_array_equal(localization.predicted_boxes(heatmap, level), [cell])
    s = score([heatmap], [truth])
    for name in localization.BOX_SETS:  # ... which each level counts once, alone
        assert s[f"{name}/boxes"][0] == 1
        np.testing.assert_array_equal(s[f"{name}/fp_iobb"][0], [1] * 5)
        assert not s[f"{name}/hit_iobb"][0].any()
    assert not any(key.startswith("wang/") for key in s)  # no pooled set


def test_label_afps_add_up_to_the_all_boxes_afp_and_the_label_mean_has_none():
    """Mass: 1 box, its map misses (1 false positive); Nodule: 3 boxes, 2 maps miss."""
    on_blob, elsewhere = [0.25, 0.25, 0.5, 0.5], [0.75, 0.75, 1.0, 1.0]
    boxes = [elsewhere, on_blob, elsewhere, elsewhere]
    table = table_of([blob()] * 4, boxes, [MASS, NODULE, NODULE, NODULE])
    afp = localization.rate_key("wang60", "afp", "iobb", 0.5)
    # Wang et al. divide each label's false positives by all 4 boxes: 1/4 and 2/4, sum 3/4.
    assert (table["Mass"][afp], table["Nodule"][afp]) == (1 / 4, 2 / 4)
    assert table[localization.ALL_BOXES][afp] == 3 / 4
    mean = table[localization.LABEL_MEAN]
    assert not [k for k in mean if "/afp@" in k]  # their mean, 3/8, would mean nothing
    assert mean[localization.rate_key("wang60", "acc", "iobb", 0.5)] == (0 + 1 / 3) / 2
    assert "label_mean/wang60/afp@iobb50" not in localization.summary(table)


def test_without_a_cam_wangs_sets_are_unknown_not_misses():
    s = localization.score_boxes(heatmaps=[blob()], boxes=[[0.25, 0.25, 0.5, 0.5]])
    assert np.isnan(s["wang60/hit_iobb"]).all() and np.isnan(s["wang180/boxes"]).all()
    assert s["up60/hit_iobb"].all() and s["pointing"][0]
    table = localization.localization_table(
        s, box_labels=[MASS], label_names=LABELS, heatmap_shape=(8, 8), draws=10
    )
    assert math.isnan(table["Mass"][localization.rate_key("wang60", "acc", "iobb", 0.5)])
    assert table["Mass"][localization.rate_key("up60", "acc", "iobb", 0.5)] == 1.0


# --- Streaming ----------------------------------------------------------------------------


def test_batches_concatenate_to_scoring_all_at_once():
    rng = np.random.default_rng(0)
    heatmaps = rng.random((5, 8, 8)) ** 4
    heatmaps[2] = 0.0
    corners = np.sort(rng.random((5, 2, 2)), axis=1)
    boxes = np.concatenate([corners[:, 0], corners[:, 1]], axis=1)
    whole = score(heatmaps, boxes, tolerance=0.1)
    parts = localization.concatenate_scores(
        [
            score(heatmaps[:2], boxes[:2], tolerance=0.1),
            score(heatmaps[2:], boxes[2:], tolerance=0.1),
        ]
    )
    assert parts.keys() == whole.keys()
    for k in whole:
        np.testing.assert_array_equal(parts[k], whole[k], err_msg=k)
    empty = localization.concatenate_scores([])
    assert empty.keys() == whole.keys()
    assert all(empty[k].shape == (0, *whole[k].shape[1:]) for k in whole)


# --- The table ----------------------------------------------------------------------------


def table_of(heatmaps, boxes, labels, **kwargs):
    s = score(heatmaps, boxes, **kwargs)
    shape = np.shape(heatmaps)[1:] or (8, 8)
    return localization.localization_table(
        s, box_labels=labels, label_names=LABELS, heatmap_shape=shape, cam_shape=shape, draws=2000
    )


def test_afp_divides_by_every_box_and_rows_average_as_named():
    """Mass: one hit (one detection), one empty map; Nodule: two misses of one detection each."""
    on_blob, elsewhere = [0.25, 0.25, 0.5, 0.5], [0.75, 0.75, 1.0, 1.0]
    heatmaps = [blob(), np.zeros((8, 8)), blob(), blob()]
    boxes = [on_blob, on_blob, elsewhere, elsewhere]
    table = table_of(heatmaps, boxes, [MASS, MASS, NODULE, NODULE])
    mass, nodule, every, mean = (
        table[k] for k in ("Mass", "Nodule", localization.ALL_BOXES, localization.LABEL_MEAN)
    )
    assert (mass["n"], mass["empty"], nodule["n"], every["empty"], mean["empty"]) == (2, 1, 2, 1, 1)
    key = localization.rate_key("wang180", "acc", "iobb", 0.5)
    assert (mass[key], nodule[key], every[key], mean[key]) == (0.5, 0.0, 0.25, 0.25)
    afp = localization.rate_key("wang180", "afp", "iobb", 0.5)
    assert (mass[afp], nodule[afp], every[afp]) == (0 / 4, 2 / 4, 2 / 4)  # over all 4 boxes
    assert mass[localization.rate_key("wang60", "afp", "iobb", 0.5)] == 0.0  # its one box hits
    assert nodule["wang60/boxes"] == 1.0 and mass["wang60/boxes"] == 0.5  # the empty map has none
    assert table["Hernia"]["n"] == 0 and math.isnan(table["Hernia"][key])
    assert math.isnan(table["Hernia"][afp]) and math.isnan(table["Hernia"]["p_centre/pointing"])


def test_label_mean_and_box_mean_differ_when_labels_have_different_counts():
    on_blob = [0.25, 0.25, 0.5, 0.5]
    table = table_of(
        [blob()] * 4, [on_blob, *[[0.75, 0.75, 1, 1]] * 3], [MASS, NODULE, NODULE, NODULE]
    )
    assert (
        table[localization.ALL_BOXES]["pointing"] == 0.25
        and table[localization.LABEL_MEAN]["pointing"] == 0.5
    )
    assert table[localization.LABEL_MEAN]["n"] == 4


def test_random_baseline_is_the_share_of_pixel_centres_near_the_box():
    boxes = np.array([[0.1, 0.2, 0.6, 0.5], [0.0, 0.0, 1.0, 1.0], [0.4, 0.4, 0.5, 0.7]])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    np.testing.assert_allclose(pointing.random_chance(boxes, 0.0, (64, 64)), areas, atol=0.02)
    rng = np.random.default_rng(1)  # and it is what random heatmaps score
    hits = [pointing.pointing_hit(rng.random((64, 64)), boxes[0]) for _ in range(2000)]
    assert np.mean(hits) == pytest.approx(areas[0], abs=0.03)
    # A box dilated by t, well inside the image: area + perimeter * t + pi * t^2.
    box, t = np.array([[0.3, 0.4, 0.5, 0.7]]), 0.05
    dilated = 0.2 * 0.3 + 2 * (0.2 + 0.3) * t + math.pi * t * t
    assert pointing.random_chance(box, t, (128, 128))[0] == pytest.approx(dilated, abs=0.005)


def test_centre_baseline_on_hand_made_boxes():
    centre = pointing.centre_heatmap(64, 64)
    assert centre.max() == 1.0 and centre.min() == 0.0
    assert pointing.peak(centre) == (31.5 / 64, 31.5 / 64)  # the first of the four central pixels
    np.testing.assert_array_equal(localization.predicted_boxes(centre, 60), [[0, 0, 1, 1]])
    (square,) = localization.predicted_boxes(centre, 180)  # 0.41 of the side, up to pixel edges
    assert square[2] - square[0] == pytest.approx(0.41, abs=1 / 32) and square[0] + square[2] == 1.0
    around, beside, near = [0.4, 0.4, 0.6, 0.6], [0.0, 0.7, 0.3, 1.0], [0.51, 0.51, 0.7, 0.7]
    table = table_of(np.zeros((3, 64, 64)), [around, beside, near], [MASS] * 3, tolerance=0.05)
    mass = table["Mass"]
    assert mass["centre/pointing"] == pytest.approx(1 / 3)  # only `around` holds the centre
    assert mass["centre/pointing_tol"] == pytest.approx(2 / 3)  # `near` is 0.014 away
    assert mass["pointing"] == 0.0 and mass["empty"] == 3
    assert mass["p_centre/pointing"] == 1.0 and mass["p_random/pointing"] == 1.0
    # At 60 the whole image: its IoBB is the truth's area, under 0.1 for all three boxes.
    assert mass[localization.rate_key("centre/wang60", "acc", "iobb", 0.1)] == 0.0
    assert mass[localization.rate_key("centre/wang180", "acc", "iobb", 0.1)] == pytest.approx(2 / 3)
    # False positives: at 60 the one box misses all three; at 180 it misses only `beside`.
    assert mass[localization.rate_key("centre/wang60", "afp", "iobb", 0.1)] == 1.0
    assert mass[localization.rate_key("centre/wang180", "afp", "iobb", 0.1)] == pytest.approx(1 / 3)


# --- p-values -----------------------------------------------------------------------------


def test_chance_p_value_is_the_poisson_binomial_tail():
    for k in (0, 1, 2, 5, 20):
        expected = scipy.stats.binom.sf(k - 1, 20, 0.1)
        assert pointing.chance_p_value(np.arange(20) < k, np.full(20, 0.1)) == pytest.approx(
            expected, rel=1e-9
        )
    chance = np.array([0.1, 0.5, 0.8, 0.3])  # unequal chances: brute force over all 2^4 outcomes
    outcomes = np.array(list(itertools.product([0, 1], repeat=4)))
    weights = np.prod(np.where(outcomes, chance, 1 - chance), axis=1)
    for k in range(5):
        tail = weights[outcomes.sum(1) >= k].sum()
        assert pointing.chance_p_value(np.arange(4) < k, chance) == pytest.approx(tail)
    assert math.isnan(pointing.chance_p_value([], []))


def test_p_value_against_the_centre_is_the_exact_mcnemar_test():
    model = np.array([1, 1, 1, 1, 1, 0, 0, 1, 0, 0], dtype=bool)
    centre = np.array([1, 0, 0, 0, 0, 1, 0, 1, 0, 0], dtype=bool)  # model only: 4; centre only: 1
    p = pointing.chance_p_value(model, pointing.centre_null(model, centre))
    assert p == pytest.approx(scipy.stats.binomtest(4, 5, 0.5, alternative="greater").pvalue)
    assert pointing.chance_p_value(model, pointing.centre_null(model, model)) == 1.0


def test_label_mean_p_value_simulates_the_weighted_tail():
    hits = np.array([1, 0, 1, 1, 0, 0], dtype=bool)
    chance = np.array([0.2, 0.5, 0.3, 0.1, 0.6, 0.4])
    labels = np.array([0, 0, 1, 1, 1, 1])  # weights 1/4 and 1/8
    outcomes = np.array(list(itertools.product([0, 1], repeat=6)))
    weights = np.prod(np.where(outcomes, chance, 1 - chance), axis=1)
    means = outcomes[:, :2].mean(1) / 2 + outcomes[:, 2:].mean(1) / 2
    exact = weights[means >= hits[:2].mean() / 2 + hits[2:].mean() / 2 - 1e-12].sum()
    simulated = pointing.mean_rate_p_value(hits, chance, labels, draws=20_000, seed=0)
    assert simulated == pytest.approx(exact, abs=0.01)
    # With equal counts per label the label mean is the box mean: the exact tail again.
    same = pointing.mean_rate_p_value(hits, chance, [0, 0, 0, 1, 1, 1], draws=20_000, seed=0)
    assert same == pytest.approx(pointing.chance_p_value(hits, chance), abs=0.01)


def test_p_values_in_the_table():
    corner = [[0.0, 0.0, 0.4, 0.4]] * 4  # holds 3 x 3 of the 8 x 8 pixel centres
    heatmaps = np.zeros((4, 8, 8))
    heatmaps[:, 1, 1] = 1.0  # all four hit; the centre, pixel (3, 3), misses them all
    table = table_of(heatmaps, corner, [MASS, MASS, NODULE, NODULE])
    chance = 9 / 64
    assert table["Mass"]["random/pointing"] == chance and table["Mass"]["centre/pointing"] == 0.0
    assert table["Mass"]["p_random/pointing"] == pytest.approx(chance**2)
    assert table[localization.ALL_BOXES]["p_random/pointing"] == pytest.approx(chance**4)
    assert table[localization.ALL_BOXES]["p_centre/pointing"] == pytest.approx(
        0.5**4
    )  # 4 wins, no loss
    # Simulated: (1 + draws at least as good) / (1 + 2000 draws).
    assert table[localization.LABEL_MEAN]["p_random/pointing"] == pytest.approx(
        chance**4, abs=2 / 2001
    )
    assert table[localization.LABEL_MEAN]["p_centre/pointing"] == pytest.approx(0.5**4, abs=0.02)


# --- Pointing game ------------------------------------------------------------------------


def test_zhang_tolerance_is_15_pixels_of_the_1024_pixel_image():
    assert pointing.ZHANG_TOLERANCE == 15 / 1024
    heatmap = np.zeros((10, 10))
    heatmap[3, 4] = 1.0  # peak at (0.35, 0.45)
    right_of_it = [0.3, 0.5, 0.4, 0.6]  # 0.05 to the right
    assert not pointing.pointing_hit(heatmap, right_of_it)
    assert pointing.pointing_hit(heatmap, right_of_it, tolerance=0.05)
    assert not pointing.pointing_hit(heatmap, right_of_it, tolerance=0.049)
    assert not pointing.pointing_hit(np.ones((10, 10)), [0.0, 0.0, 1.0, 1.0], tolerance=1.0)


def test_peak_of_an_upsampled_coarse_map_is_the_hot_cell_centre():
    for row, col in [(0, 0), (0, 3), (3, 0), (3, 3), (1, 2)]:
        cam = np.full((4, 4), 0.2)
        cam[row, col] = 1.0
        y, x = pointing.peak(bilinear(cam, 128))
        assert y == pytest.approx((row + 0.5) / 4, abs=0.5 / 128 + 1e-9)
        assert x == pytest.approx((col + 0.5) / 4, abs=0.5 / 128 + 1e-9)
    assert pointing.peak(np.ones((4, 4))) == (0.375, 0.375)  # ties: nearest the centre, row-major


# --- Reports and published numbers -------------------------------------------------------


def test_reports_summary_and_published_rows():
    table = table_of([blob(), np.zeros((8, 8))], [[0.25, 0.25, 0.5, 0.5]] * 2, [MASS, NODULE])
    flat = localization.summary(table)
    assert flat["localization/boxes"] == 2.0 and flat["localization/empty_maps"] == 1.0
    assert (
        flat["wang60/acc@iobb50"] == 0.5
        and flat["pointing/Mass"] == 1.0
        and "pointing/Hernia" not in flat
    )
    assert {"label_mean/p_centre/pointing_tol", "wang180/afp@iobb90"} <= flat.keys()
    assert all(isinstance(v, float) for v in flat.values())
    text = localization_report.format_table(table)
    assert [line.split()[0] for line in text.splitlines()[3:6]] == ["Mass", "Nodule", "all"]
    assert "Table 19" not in text and "2 boxes, 1 empty Grad-CAM maps" in text
    published_text = localization_report.format_table(table, official=True).split(
        "T(IoBB) accuracy: "
    )[1]
    assert "Table 19 (ChestX-ray14) / Table 4 (ChestX-ray8)" in published_text
    # Mass at T > 0.1: ours above 60 and above 180 (its box is hit), Table 19, Table 4.
    assert "1.00 1.00 0.59 0.44" in published_text.splitlines()[6]
    assert localization_report.format_table(
        table_of(np.zeros((0, 8, 8)), np.zeros((0, 4)), [])
    ) == ("No box: no localization measured.")


def test_published_localization_is_whole_boxes_and_afp_is_over_all_984():
    """Guards the transcription and records why AFP divides by every box (see cxr.stats.published)."""
    total = sum(published.NIH_BOXES.values())
    assert total == 984 and set(published.NIH_BOXES) == set(published.WANG_LOCALIZATION_LABELS)
    for tables in published.WANG_LOCALIZATION.values():
        for label in published.WANG_LOCALIZATION_LABELS:
            for acc in tables["accuracy"][label]:  # printed to 4 decimals, some truncated
                assert (
                    abs(round(acc * published.NIH_BOXES[label]) / published.NIH_BOXES[label] - acc)
                    <= 1e-4
                )
            for afp in tables["afp"][label]:
                assert abs(round(afp * total) / total - afp) <= 1e-4
    assert published.OFFICIAL_TEST_IMAGES == 25_596


@pytest.mark.parametrize(
    "rate, centre, p, verdict",
    [
        (0.30, 0.10, 0.01, "more often than"),
        (0.30, 0.10, 0.20, "no more often than"),  # higher, but not beyond chance
        (0.05, 0.10, 0.01, "no more often than"),  # significant, the wrong way
    ],
)
def test_the_summary_says_whether_grad_cam_beats_the_centre(rate, centre, p, verdict):
    row = {"pointing": rate, "centre/pointing": centre, "p_centre/pointing": p}
    line = localization_report.beats_centre(row)
    assert f"lands in the box {verdict} the centre" in line
    assert f"{rate:.2f} vs {centre:.2f}" in line
