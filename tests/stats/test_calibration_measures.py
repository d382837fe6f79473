"""cxr.stats.calibration and cxr.stats.temperature against hand computations, sklearn,
a direct loop over the expanded data set, and a brute-force grid."""

import math

import numpy as np
import pytest
import sklearn.metrics

from cxr.stats import bootstrap, calibration, temperature

# Five images, by hand (docs/protocols.md's rules): 1/15 sits on the first inner edge and
# belongs to the first bin (right-closed), 0 to the first bin too.
P = np.array([0.0, 1 / 15, 0.1, 0.5, 1.0])
Y = np.array([0, 1, 0, 1, 1])


def test_equal_width_ece_and_mce_of_a_hand_made_example():
    # Bin 1 [0, 1/15]: {0, 1/15}, mean p 1/30, half positive: gap 7/15, weight 2/5.
    # Bin 2 (1/15, 2/15]: {0.1}, negative: gap 0.1. Bin 8 (7/15, 8/15]: {0.5}, positive:
    # gap 0.5. Bin 15 (14/15, 1]: {1.0}, positive: gap 0. Each weight 1/5.
    expected_ece = 2 / 5 * 7 / 15 + (0.1 + 0.5 + 0.0) / 5
    found = calibration.point(P, Y)
    assert found["ece"] == pytest.approx(expected_ece, abs=1e-12)
    assert found["mce"] == pytest.approx(0.5, abs=1e-12)
    # Had 1/15 gone to the second bin (left-closed), the ECE would differ: 0.2667.
    assert abs(found["ece"] - (2 / 5 * (0.5 - (1 / 15 + 0.1) / 2) + 0.5 / 5)) > 0.03


def test_equal_mass_ece_of_a_hand_made_example():
    # Two bins of 5 sorted images cut at floor(5 / 2) = 2: {0, 1/15} gap 7/15 and
    # {0.1, 0.5, 1} with mean p 1.6 / 3 and 2 of 3 positive.
    expected = 2 / 5 * 7 / 15 + 3 / 5 * abs(1.6 / 3 - 2 / 3)
    assert calibration.point(P, Y, bins=2)["adaptive_ece"] == pytest.approx(expected, abs=1e-12)
    # With 15 bins and 5 images, every image is its own bin: the mean |p - y|.
    assert calibration.point(P, Y)["adaptive_ece"] == pytest.approx(np.abs(P - Y).mean())


def test_brier_is_sklearns():
    rng = np.random.default_rng(0)
    p, y = rng.random(500), rng.random(500) < 0.3
    assert calibration.point(p, y)["brier"] == pytest.approx(
        sklearn.metrics.brier_score_loss(y, p), abs=1e-12
    )


def _direct(p, y, bins, equal_mass):
    """ECE written out the plain way on an explicit list of images."""
    if equal_mass:
        order = np.argsort(p, kind="stable")
        p, y = p[order], y[order]
        cuts = [math.floor(r * len(p) / bins) for r in range(bins + 1)]
        groups = [np.arange(cuts[r], cuts[r + 1]) for r in range(bins)]
    else:
        index = np.array([max(math.ceil(v * bins) - 1, 0) for v in p])
        groups = [np.flatnonzero(index == m) for m in range(bins)]
    return sum(len(g) / len(p) * abs(p[g].mean() - y[g].mean()) for g in groups if len(g))


@pytest.mark.parametrize("equal_mass", [False, True])
def test_resample_weights_equal_the_expanded_data_set(equal_mass):
    rng = np.random.default_rng(1)
    # Rounded probabilities: ties within and across images, as float32 outputs have.
    p, y = np.round(rng.random(60), 2), (rng.random(60) < 0.4).astype(float)
    weights = rng.integers(0, 4, size=(5, 60))
    found = calibration.measures(p, y, weights, bins=7)
    key = "adaptive_ece" if equal_mass else "ece"
    for b, w in enumerate(weights):
        expanded = np.repeat(np.arange(60), w)
        # The expanded set in image order: the stable sort keeps copies together.
        expected = _direct(p[expanded], y[expanded], 7, equal_mass)
        assert found[key][b] == pytest.approx(expected, abs=1e-12)
        brier = np.mean((p[expanded] - y[expanded]) ** 2)
        assert found["brier"][b] == pytest.approx(brier, abs=1e-12)


def test_reliability_bins_count_every_image_once():
    rng = np.random.default_rng(2)
    p, y = rng.random(300), rng.random(300) < 0.2
    rows = calibration.reliability_bins(p, y)
    assert sum(r["images"] for r in rows) == 300
    assert sum(r["positives"] for r in rows) == int(y.sum())
    counts, _ = np.histogram(p, bins=np.linspace(0, 1, 16))  # left-closed; no p on an edge here
    assert [r["images"] for r in rows] == counts.tolist()


def test_report_cis_use_patient_resamples_and_skip_unknown_truth():
    rng = np.random.default_rng(3)
    n = 200
    probs, labels = rng.random((n, 2)), (rng.random((n, 2)) < 0.3).astype(float)
    patients = rng.integers(0, 60, n)
    known = np.ones((n, 2), bool)
    known[:50, 1] = False
    found = calibration.report(probs, labels, patients, ["A", "B"], known, num_bootstrap=40, seed=5)
    b = found["per_label"]["B"]
    assert b["images"] == 150
    assert b["ece"]["value"] == pytest.approx(
        calibration.point(probs[50:, 1], labels[50:, 1])["ece"]
    )
    assert b["ece"]["n_valid_resamples"] == 40
    # The first resample, by hand: each image weighted by how often its patient was drawn.
    groups, num_patients = bootstrap.patient_index(patients)
    counts = next(bootstrap.resample_chunks(num_patients, 40, 5, num_images=n))[1][0]
    resamples = calibration.bootstrap_measures(
        probs, labels, patients, known, num_bootstrap=40, seed=5
    )
    w = counts[groups][50:]
    expanded = np.repeat(np.arange(50, n), w)
    assert resamples["ece"][0, 1] == pytest.approx(
        _direct(probs[expanded, 1], labels[expanded, 1], 15, False), abs=1e-12
    )
    macro = np.mean([found["per_label"][k]["brier"]["value"] for k in "AB"])
    assert found["macro"]["brier"]["value"] == pytest.approx(macro)


def _nll_grid(z, y):
    """The NLL minimiser over log T by brute force: a grid of 2001 points over the whole
    search interval, then 2001 around the best of them (a step of 2.3e-6 in log T)."""
    sign = 2 * y - 1
    grid = np.linspace(*temperature.LOG_T_BOUNDS, 2001)
    for _ in range(2):
        losses = np.logaddexp(0, -sign * z / np.exp(grid)[:, None]).mean(axis=1)
        best, step = int(np.argmin(losses)), grid[1] - grid[0]
        grid = np.linspace(grid[best] - 2 * step, grid[best] + 2 * step, 2001)
    return math.exp(grid[1000]), float(losses.min())


@pytest.mark.parametrize("true_t", [0.5, 1.0, 2.5])
def test_fitted_temperature_is_the_grid_minimum_of_validation_nll(true_t):
    rng = np.random.default_rng(4)
    z_true = rng.normal(-1.5, 2.0, 2000)
    y = (rng.random(2000) < 1 / (1 + np.exp(-z_true))).astype(float)
    z = z_true * true_t  # an over- (true_t > 1) or under-confident model
    fitted = temperature.fit(z, y)
    grid_t, grid_loss = _nll_grid(z, y)
    # The fine grid's step in log T is 2.3e-6, the search's tolerance 1e-7.
    assert math.log(fitted["temperature"]) == pytest.approx(math.log(grid_t), abs=1e-5)
    assert fitted["nll_after"] <= grid_loss + 1e-12
    assert fitted["nll_after"] <= fitted["nll_before"]
    assert fitted["temperature"] == pytest.approx(true_t, rel=0.15)  # 2000 draws: roughly


def test_temperature_scaling_keeps_every_auroc_and_improves_nll():
    rng = np.random.default_rng(6)
    z_true = rng.normal(-2.0, 1.5, (2000, 3))
    y = (rng.random((2000, 3)) < 1 / (1 + np.exp(-z_true))).astype(float)
    probs = (1 / (1 + np.exp(-3 * z_true))).astype(np.float32)  # overconfident, float32
    probs[0, 0], probs[1, 1] = 0.0, 1.0  # the clip's two cases
    fits = temperature.fit_labels(probs, y, ["a", "b", "c"])
    t = [fits[k]["temperature"] for k in "abc"]
    scaled = temperature.scale(probs, t)
    for i in range(3):
        before = sklearn.metrics.roc_auc_score(y[:, i], probs[:, i])
        assert sklearn.metrics.roc_auc_score(y[:, i], scaled[:, i]) == before
        assert t[i] == pytest.approx(3.0, rel=0.2)
    assert (
        calibration.point(scaled[:, 0], y[:, 0])["ece"]
        < calibration.point(probs[:, 0], y[:, 0])["ece"]
    )


def test_a_label_without_positives_keeps_its_probabilities():
    fitted = temperature.fit(np.array([-1.0, -2.0]), np.array([0, 0]))
    assert math.isnan(fitted["temperature"]) and fitted["reason"] == "no positive in validation"
    probs = np.array([[0.2, 0.7]], np.float32)
    scaled = temperature.scale(probs, [math.nan, 2.0])
    assert scaled[0, 0] == pytest.approx(0.2) and scaled[0, 1] < 0.7


def test_separable_or_few_positive_validation_is_warned_about():
    """A label validation separates perfectly drives T to the search's lower bound (the
    learnability run's Edema: 6 positives, T = 0.01); the fit says so, and the report warns
    about it and about fits on fewer than MIN_POSITIVES positives, not about a plain fit."""
    from cxr.evaluation import calibration_report, thresholds

    rng = np.random.default_rng(3)
    y_sep = np.zeros(200)
    y_sep[:6] = 1
    z_sep = np.where(y_sep > 0, 2.0, -2.0) + 0.1 * rng.normal(size=200)  # every positive above
    z = rng.normal(size=400)
    y = (rng.random(400) < 1 / (1 + np.exp(-z))).astype(float)
    separable, plain = temperature.fit(z_sep, y_sep), temperature.fit(z, y)
    assert separable["at_bound"] and separable["positives"] == 6
    assert not plain["at_bound"] and plain["positives"] == int(y.sum()) >= thresholds.MIN_POSITIVES
    lines = calibration_report.fit_warnings({"Edema": separable, "Mass": plain})
    assert len(lines) == 2 and all(line.startswith("Warning: Edema") for line in lines)
    assert "stopped at the search's bound" in lines[0] and "6 validation positives" in lines[1]
