"""Heatmap -> box, IoU, IoBB, pointing game and the per-pathology table, on hand-made cases."""

import math

import keras
import numpy as np
import pytest

from cxr import localization as loc
from cxr_tfds.labels import LABELS


def blob(size=10, rows=(2, 5), cols=(3, 8), value=1.0):
    heatmap = np.zeros((size, size), dtype=np.float32)
    heatmap[rows[0] : rows[1], cols[0] : cols[1]] = value
    return heatmap


def test_heatmap_to_box_uses_pixel_edges_and_the_threshold():
    heatmap = blob()
    np.testing.assert_allclose(loc.heatmap_to_box(heatmap), [0.2, 0.3, 0.5, 0.8])
    heatmap[9, 9] = 0.4  # below the threshold: ignored ...
    np.testing.assert_allclose(loc.heatmap_to_box(heatmap), [0.2, 0.3, 0.5, 0.8])
    # ... unless the threshold is lower; then it is a separate, smaller region.
    np.testing.assert_allclose(loc.heatmap_to_box(heatmap, threshold=0.3), [0.2, 0.3, 0.5, 0.8])
    heatmap[5:9, 8:9] = 0.4  # now it joins the blob at a corner (8-connected)
    np.testing.assert_allclose(loc.heatmap_to_box(heatmap, threshold=0.3), [0.2, 0.3, 1.0, 1.0])
    assert loc.heatmap_to_box(np.zeros((10, 10))) is None


def test_heatmap_to_box_takes_the_largest_region():
    heatmap = blob(rows=(0, 2), cols=(0, 2), value=1.0)  # 4 pixels, the hottest
    heatmap[5:9, 4:10] = 0.7  # 24 pixels
    np.testing.assert_allclose(loc.heatmap_to_box(heatmap), [0.5, 0.4, 0.9, 1.0])


def test_iou_and_iobb_by_hand():
    detected = np.array([0.0, 0.0, 0.5, 0.5])  # area 0.25
    truth = np.array([0.25, 0.25, 1.0, 1.0])  # area 0.5625, overlap 0.0625
    assert loc.iou(detected, truth) == pytest.approx(0.0625 / (0.25 + 0.5625 - 0.0625))
    assert loc.iobb(detected, truth) == pytest.approx(0.0625 / 0.25)
    inside = np.array([0.5, 0.5, 0.75, 0.75])
    assert loc.iobb(inside, truth) == 1.0 and loc.iou(inside, truth) == pytest.approx(1 / 9)
    assert loc.iou(truth, truth) == 1.0
    assert loc.iou(detected, [0.6, 0.6, 0.9, 0.9]) == 0.0
    assert loc.iobb(np.zeros(4), truth) == 0.0  # empty detection: no overlap, no NaN
    np.testing.assert_allclose(loc.iou(np.stack([detected, truth]), truth), [0.0625 / 0.75, 1.0])


def test_pointing_hit():
    heatmap = blob() * 0.5
    heatmap[3, 4] = 1.0  # centre (0.35, 0.45)
    assert loc.pointing_hit(heatmap, [0.2, 0.3, 0.5, 0.8])
    assert loc.pointing_hit(heatmap, [0.35, 0.45, 0.4, 0.5])  # edges count
    assert not loc.pointing_hit(heatmap, [0.5, 0.5, 1.0, 1.0])
    assert not loc.pointing_hit(np.zeros((10, 10)), [0.0, 0.0, 1.0, 1.0])


def test_peak_of_an_upsampled_coarse_map_is_the_hot_cell_centre():
    """Bilinear upsampling holds border cells flat out to the edge: the peak is still the cell."""
    for row, col in [(0, 0), (0, 3), (3, 0), (3, 3), (1, 2)]:
        cam = np.full((1, 4, 4, 1), 0.2, dtype=np.float32)
        cam[0, row, col, 0] = 1.0
        heatmap = np.asarray(keras.ops.image.resize(cam, (128, 128), interpolation="bilinear"))
        y, x = loc.peak(heatmap[0, ..., 0])
        # Pixel centres nearest the cell centre (i + 0.5) / 4 lie half a pixel from it.
        assert y == pytest.approx((row + 0.5) / 4, abs=0.5 / 128 + 1e-9)
        assert x == pytest.approx((col + 0.5) / 4, abs=0.5 / 128 + 1e-9)
    # Ties elsewhere: the one nearest the image centre, then the first in row-major order.
    assert loc.peak(np.ones((4, 4))) == (0.375, 0.375)
    assert loc.peak(blob()) == (0.45, 0.45)


def test_pointing_hit_with_a_tolerance():
    heatmap = np.zeros((10, 10))
    heatmap[3, 4] = 1.0  # centre (0.35, 0.45)
    right_of_it = [0.3, 0.5, 0.4, 0.6]  # 0.05 to the right
    assert not loc.pointing_hit(heatmap, right_of_it)
    assert loc.pointing_hit(heatmap, right_of_it, tolerance=0.05)
    assert not loc.pointing_hit(heatmap, right_of_it, tolerance=0.049)
    diagonal = [0.38, 0.49, 0.5, 0.6]  # corner 0.03 down and 0.04 right: 0.05 away
    assert loc.pointing_hit(heatmap, diagonal, tolerance=0.0501)
    assert not loc.pointing_hit(heatmap, diagonal, tolerance=0.045)
    assert not loc.pointing_hit(np.ones((10, 10)), [0.0, 0.0, 1.0, 1.0], tolerance=1.0)


def test_localization_table_counts_hits_per_label():
    truth = np.array([[0.2, 0.3, 0.5, 0.8], [0.2, 0.3, 0.5, 0.8], [0.0, 0.0, 0.3, 0.3]])
    heatmaps = np.stack([blob(), np.zeros((10, 10)), blob()])  # exact, nothing, elsewhere
    labels = np.array([LABELS.index("Mass"), LABELS.index("Mass"), LABELS.index("Nodule")])
    table = loc.localization_table(heatmaps, truth, labels, LABELS, random_draws=20)

    assert list(table) == [*LABELS, loc.ALL_BOXES]
    mass, nodule = table["Mass"], table["Nodule"]
    assert mass["n"] == 2 and nodule["n"] == 1
    assert mass["iou@0.7"] == mass["iobb@0.9"] == mass["pointing"] == 0.5
    # Blob box [0.2, 0.3, 0.5, 0.8] against [0, 0, 0.3, 0.3]: they only touch.
    assert nodule["iobb@0.1"] == nodule["iou@0.1"] == nodule["pointing"] == 0.0
    assert nodule["random/pointing"] == pytest.approx(0.09)  # 3 x 3 of 10 x 10 pixel centres
    # The blob's peak (ties: nearest the centre) is (0.45, 0.45), 0.21 from the nodule's box.
    assert nodule["pointing_tol"] == 0.0 and nodule["random/pointing_tol"] > 0.09
    everything = table[loc.ALL_BOXES]
    assert everything["n"] == 3 and everything["pointing"] == pytest.approx(1 / 3)
    assert everything["random/pointing"] == pytest.approx((0.15 + 0.15 + 0.09) / 3)
    for key in ("n", "pointing", "iou@0.1", "random/iobb@0.5", "random/pointing"):
        assert key in table["Hernia"]
    assert table["Hernia"]["n"] == 0
    assert all(math.isnan(v) for k, v in table["Hernia"].items() if k != "n")

    text = loc.format_localization_table(table)
    assert len(text.splitlines()) == 1 + len(LABELS) + 1
    assert text.splitlines()[-1].startswith(loc.ALL_BOXES)
    assert "0.50 (" in text and "n/a" in text


def test_empty_input_gives_nan_rows():
    table = loc.localization_table(np.zeros((0, 8, 8)), np.zeros((0, 4)), [], LABELS)
    assert all(row["n"] == 0 and math.isnan(row["iou@0.5"]) for row in table.values())


def test_random_pointing_rate_is_the_box_area_fraction():
    boxes = np.array([[0.1, 0.2, 0.6, 0.5], [0.0, 0.0, 1.0, 1.0], [0.4, 0.4, 0.5, 0.7]])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    labels = np.arange(len(boxes))
    table = loc.localization_table(np.zeros((3, 64, 64)), boxes, labels, LABELS)
    for index, area in enumerate(areas):
        assert table[LABELS[index]]["random/pointing"] == pytest.approx(area, abs=0.02)

    # The analytic rate is what random heatmaps score in the pointing game.
    rng = np.random.default_rng(1)
    for box, area in zip(boxes, areas, strict=True):
        hits = [loc.pointing_hit(rng.random((64, 64)), box) for _ in range(2000)]
        assert np.mean(hits) == pytest.approx(area, abs=0.03)

    # Thresholded noise spans about the whole image: random IoBB ~ area fraction.
    assert table[LABELS[1]]["random/iobb@0.9"] == table[LABELS[1]]["random/iou@0.7"] == 1.0
    assert (
        table[LABELS[0]]["random/iobb@0.25"] == 0.0 and table[LABELS[0]]["random/iobb@0.1"] == 1.0
    )


def test_random_tolerant_pointing_rate_is_the_dilated_box_area():
    """A box dilated by t has area + perimeter * t + pi * t^2 (well inside the image)."""
    box, t = np.array([[0.3, 0.4, 0.5, 0.7]]), 0.05
    dilated = 0.2 * 0.3 + 2 * (0.2 + 0.3) * t + math.pi * t * t
    table = loc.localization_table(np.zeros((1, 128, 128)), box, [0], LABELS, pointing_tolerance=t)
    assert table[LABELS[0]]["random/pointing_tol"] == pytest.approx(dilated, abs=0.005)
    rng = np.random.default_rng(2)
    hits = [loc.pointing_hit(rng.random((128, 128)), box[0], t) for _ in range(3000)]
    assert np.mean(hits) == pytest.approx(dilated, abs=0.025)


def test_chance_p_value_is_the_poisson_binomial_tail():
    import scipy.stats

    chance = np.full(20, 0.1)
    for k in (0, 1, 2, 5, 20):
        hits = np.arange(20) < k
        expected = scipy.stats.binom.sf(k - 1, 20, 0.1)
        assert loc.chance_p_value(hits, chance) == pytest.approx(expected, rel=1e-9)
    # Unequal chances: brute force over all 2^4 outcomes.
    chance = np.array([0.1, 0.5, 0.8, 0.3])
    outcomes = np.array(np.meshgrid(*[[0, 1]] * 4)).reshape(4, -1).T
    weights = np.prod(np.where(outcomes, chance, 1 - chance), axis=1)
    for k in range(5):
        hits = np.arange(4) < k
        assert loc.chance_p_value(hits, chance) == pytest.approx(
            weights[outcomes.sum(1) >= k].sum()
        )
    assert math.isnan(loc.chance_p_value([], []))


def test_pointing_summary_line():
    boxes = np.array([[0.0, 0.0, 0.5, 0.5]] * 4)
    heatmaps = np.zeros((4, 8, 8))
    heatmaps[:, 1, 1] = 1.0  # all four hit a quarter-image box
    table = loc.localization_table(heatmaps, boxes, [0, 0, 1, 1], LABELS, random_draws=3)
    assert table[LABELS[0]]["p/pointing"] == pytest.approx(0.25**2)
    assert table[loc.ALL_BOXES]["p/pointing"] == pytest.approx(0.25**4)
    line = loc.format_pointing_summary(table)
    assert line.startswith("Pointing game over all 4 boxes: strict 1.00 vs 0.25")
    assert "(p = 0.004)" in line
    empty = loc.localization_table(np.zeros((0, 8, 8)), np.zeros((0, 4)), [], LABELS)
    assert loc.format_pointing_summary(empty) == "Pointing game: no boxes."
