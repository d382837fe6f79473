"""Per-box saliency scores on hand-made maps, and their label means, CIs and paired differences."""

import numpy as np
import pytest

from cxr.evaluation import saliency_scores as ss
from cxr.saliency import localization

BOX = [0.2, 0.3, 0.5, 0.7]  # 20 x 20 map: rows 4..9, columns 6..13 have their centres inside


def _square(on_box=True):
    heatmap = np.zeros((20, 20))
    if on_box:
        heatmap[4:10, 6:14] = 1.0
    else:
        heatmap[14:18, 0:4] = 1.0
    return heatmap


def test_a_map_that_is_the_box_scores_perfectly_and_one_elsewhere_scores_nothing():
    cols = ss.box_scores(np.stack([_square(True), _square(False)]), [BOX, BOX])
    # Hand values: the box's pixels are exactly the square's; the other square is far away.
    np.testing.assert_array_equal(cols["hit"], [1.0, 0.0])
    np.testing.assert_array_equal(cols["pointing"], [1.0, 0.0])
    np.testing.assert_allclose(cols["miou_otsu"], [1.0, 0.0])
    np.testing.assert_allclose(cols["auprc"], [1.0, 48 / 400])  # ties: precision = box share
    for t in localization.IOBB_THRESHOLDS:
        assert cols[localization.rate_key("wangstyle60", "acc", "iobb", t)].tolist() == [1.0, 0.0]
        assert cols[localization.rate_key("wangstyle180", "afp", "iobb", t)].tolist() == [0.0, 1.0]
    assert not any(k.startswith("wang60") for k in cols)  # no grid, no Wang et al. columns
    np.testing.assert_allclose(cols[ss.IOUS], np.tile([[1.0], [0.0]], len(ss.TUNING_THRESHOLDS)))


def test_signed_maps_are_scored_as_made_and_the_grid_gives_wangs_own_columns():
    signed = _square(True) * 2.0 - 1.0  # -1 outside, +1 on the box: no ReLU needed
    grid = np.full((2, 2), -3.0)
    grid[0, 0] = 5.0  # the top-left quarter [0, 0, 0.5, 0.5]
    cols = ss.box_scores(signed[None], [BOX], grids=grid[None])
    assert cols["hit"][0] == 1.0 and cols["miou_otsu"][0] == pytest.approx(1.0)
    # The quarter's IoBB with BOX: (0.3 x 0.2) / 0.25 = 0.24: above 0.1, not above 0.25.
    acc = [cols[localization.rate_key("wang60", "acc", "iobb", t)][0] for t in (0.1, 0.25)]
    assert acc == [1.0, 0.0]


def test_threshold_ious_against_hand_counts():
    ramp = np.tile(np.arange(10, dtype=float), (10, 1))  # columns 0..9, scaled to k / 9
    box = [0.0, 0.5, 1.0, 1.0]  # columns 5..9
    ious = ss.threshold_ious(ramp, box, thresholds=(0.5, 0.7, 0.95))
    # > 0.5: columns 5..9 (5/9 = 0.56) -> IoU 1; > 0.7: 7..9 -> 3/5; > 0.95: 9 -> 1/5.
    np.testing.assert_allclose(ious, [1.0, 0.6, 0.2])
    np.testing.assert_array_equal(ss.threshold_ious(np.ones((4, 4)), box, (0.5,)), [0.0])


def test_thresholds_are_chosen_per_label_on_validation_and_applied_per_box():
    val_ious = np.array([[0.1, 0.5, 0.2], [0.3, 0.4, 0.9], [0.2, 0.2, 0.1]])
    chosen = ss.choose_thresholds(val_ious, [0, 0, 2], num_labels=3)
    # Label 0: means (0.2, 0.45, 0.55) -> index 2; label 1 has no box; label 2: tie -> index 0.
    np.testing.assert_array_equal(chosen, [2, -1, 0])
    test_ious = np.array([[0.7, 0.8, 0.9], [0.7, 0.8, 0.9], [0.7, 0.8, 0.9]])
    out = ss.tuned_iou(test_ious, [0, 1, 2], chosen)
    np.testing.assert_allclose(out, [0.9, np.nan, 0.7])


def _reference_means(values, labels, copies):
    """Means over a data set holding box i `copies[i]` times: numpy on the repeated boxes."""
    v, k = np.repeat(values, copies), np.repeat(labels, copies)
    keep = np.isfinite(v)
    v, k = v[keep], k[keep]
    per_label = {label: v[k == label].mean() for label in np.unique(k)}
    return per_label, np.mean(list(per_label.values())), v.mean()


def test_weighted_means_equal_the_means_of_the_repeated_boxes():
    rng = np.random.default_rng(0)
    values = rng.uniform(size=12)
    values[3] = np.nan  # e.g. AUPRC of a box without pixels: left out
    labels = rng.integers(0, 3, 12)
    copies = rng.integers(0, 3, (5, 12))
    per_label, label_mean, all_boxes = ss.weighted_means(values, copies, np.eye(4)[labels])
    for row, weights in enumerate(copies):
        ref_labels, ref_mean, ref_all = _reference_means(values, labels, weights)
        assert label_mean[row] == pytest.approx(ref_mean)
        assert all_boxes[row] == pytest.approx(ref_all)
        for label, mean in ref_labels.items():
            assert per_label[row, label] == pytest.approx(mean)
        assert np.isnan(per_label[row, 3])  # a label without boxes


def _book(columns_by_method, labels, patients):
    book = ss.ScoreBook()
    book.add_boxes(labels=labels, patients=patients)
    for method, columns in columns_by_method.items():
        book.add(method, columns)
    return book


def test_label_means_average_labels_not_boxes_and_comparisons_are_paired():
    hits = np.array([1.0, 0.0, 1.0, 0.0])  # label a: 2 of 3; label b: 0 of 1
    better = hits + 0.1
    book = _book({"m": {"hit": hits}, "n": {"hit": better}}, [0, 0, 0, 1], [1, 2, 3, 4])
    out = book.summarize(label_names=("a", "b"), num_bootstrap=200, seed=0)
    m = out["methods"]["m"]["hit"]
    assert m["label_mean"]["value"] == pytest.approx((2 / 3 + 0) / 2)
    assert m["all_boxes"]["value"] == pytest.approx(0.5)
    assert m["per_label"]["a"]["n"] == 3 and m["per_label"]["b"]["value"] == 0.0
    assert m["label_mean"]["ci_low"] <= m["label_mean"]["value"] <= m["label_mean"]["ci_high"]
    diff = out["comparisons"]["m - n"]["hit"]
    # The same resamples for both: every resampled difference is exactly -0.1.
    assert diff["difference"] == pytest.approx(-0.1)
    assert diff["ci_low"] == pytest.approx(-0.1) and diff["ci_high"] == pytest.approx(-0.1)


def test_boxes_of_one_patient_are_resampled_together():
    values = np.array([1.0, 0.0, 1.0, 0.0])
    one = _book({"m": {"hit": values}}, [0, 0, 0, 0], [7, 7, 7, 7])
    ci = one.summarize(label_names=("a",), num_bootstrap=100)["methods"]["m"]["hit"]["label_mean"]
    assert ci["ci_low"] == ci["ci_high"] == 0.5  # one patient: every resample is the whole split
    many = _book({"m": {"hit": values}}, [0, 0, 0, 0], [1, 2, 3, 4])
    ci = many.summarize(label_names=("a",), num_bootstrap=100)["methods"]["m"]["hit"]["label_mean"]
    assert ci["ci_low"] < 0.5 < ci["ci_high"]


def test_tuned_miou_appears_only_with_chosen_thresholds():
    ious = np.array([[0.2, 0.8], [0.6, 0.1]])
    book = _book({"m": {ss.IOUS: ious, "hit": np.ones(2)}}, [0, 1], [1, 2])
    assert (
        "miou_tuned" not in book.summarize(label_names=("a", "b"), num_bootstrap=10)["methods"]["m"]
    )
    chosen = {"m": np.array([1, 0])}
    out = book.summarize(label_names=("a", "b"), chosen=chosen, num_bootstrap=10)["methods"]["m"]
    assert out["miou_tuned"]["label_mean"]["value"] == pytest.approx((0.8 + 0.6) / 2)


def test_baselines_random_is_the_box_share_and_centre_hits_a_central_box():
    central = [0.25, 0.25, 0.75, 0.75]
    out = ss.baseline_scores(
        [central, [0.0, 0.0, 1.0, 0.5]], image_shape=(20, 20), grid_shape=(4, 4)
    )
    # Pixel centres inside: a 10 x 10 square of 400, then the left half of the columns.
    np.testing.assert_allclose(out[ss.RANDOM]["hit"], [100 / 400, 0.5])
    # Zhang's 15 px of 1024 is 2.9 px of a 200 px map: a rim of 3 pixel centres per side.
    wide = ss.baseline_scores([central], image_shape=(200, 200))[ss.RANDOM]["pointing"][0]
    assert (106 * 106 - 4) / 200**2 <= wide <= 106 * 106 / 200**2
    assert out[ss.CENTRE]["hit"][0] == 1.0
    assert "wang60/acc@iobb50" in out[ss.CENTRE]
