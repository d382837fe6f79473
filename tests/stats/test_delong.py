"""DeLong's test (Sun & Xu's fast form) against sklearn, brute force and the bootstrap."""

import math

import numpy as np
import pytest
import scipy.stats
import sklearn.metrics

from cxr.stats import bootstrap, delong


def brute_force_components(scores, labels):
    """DeLong's structural components from all m x n pairs, ties counting half."""
    pos, neg = scores[:, labels == 1], scores[:, labels == 0]
    wins = (pos[:, :, None] > neg[:, None, :]) + 0.5 * (pos[:, :, None] == neg[:, None, :])
    return wins.mean(axis=2), wins.mean(axis=1)  # V10 (R, m), V01 (R, n)


def brute_force_covariance(scores, labels):
    v10, v01 = brute_force_components(scores, labels)
    return np.cov(v10) / v10.shape[1] + np.cov(v01) / v01.shape[1]


def correlated_models(num_images, seed, num_labels=1, rounding=None):
    """Labels and the scores of two models that see the same images.

    The labels co-occur (a latent "sick" term) and each model's error has a
    per-image part common to all labels, as on real X-rays: then the labels'
    AUROC differences covary. Both models share most of their scores, so their
    AUROCs covary too.
    """
    rng = np.random.default_rng(seed)
    sick = rng.normal(size=(num_images, 1))
    labels = (2 * sick + rng.normal(size=(num_images, num_labels)) > 1.2).astype(float)
    shared = rng.normal(size=(num_images, 1)) + 0.8 * rng.normal(size=labels.shape)

    def model_error():
        return 0.8 * rng.normal(size=(num_images, 1)) + 0.5 * rng.normal(size=labels.shape)

    a = shared + 1.0 * labels + model_error()
    b = shared + 1.3 * labels + model_error()
    if rounding is not None:
        a, b = np.round(a, rounding), np.round(b, rounding)
    return a, b, labels


def test_midranks_are_average_ranks():
    values = np.array([3.0, 1.0, 2.0, 2.0, 5.0, 3.0, 3.0, -1.0])
    np.testing.assert_array_equal(delong.midranks(values), scipy.stats.rankdata(values))
    values = np.random.default_rng(0).integers(0, 20, size=500).astype(float)
    np.testing.assert_array_equal(delong.midranks(values), scipy.stats.rankdata(values))


def test_aurocs_and_covariance_equal_sklearn_and_brute_force_with_ties():
    rng = np.random.default_rng(1)
    labels = (rng.random(300) < 0.25).astype(float)
    # Three models rounded to one decimal: many ties, within and across classes.
    scores = np.round(rng.normal(size=(3, 300)) + labels * [[0.5], [1.0], [0.0]], 1)
    aurocs, cov = delong.delong_covariance(scores, labels)
    for r in range(3):
        assert aurocs[r] == pytest.approx(
            sklearn.metrics.roc_auc_score(labels, scores[r]), abs=1e-12
        )
    np.testing.assert_allclose(cov, brute_force_covariance(scores, labels), rtol=1e-10, atol=1e-15)
    # The per-image influences reproduce the same covariance.
    _, phi = delong.influence(scores, labels)
    np.testing.assert_allclose(phi @ phi.T, cov, rtol=1e-10, atol=1e-15)


def test_macro_variance_equals_brute_force_influence_across_labels():
    a, b, labels = correlated_models(200, seed=2, num_labels=3, rounding=1)
    per_image = np.zeros(len(labels))
    for k in range(3):
        y = labels[:, k]
        v10, v01 = brute_force_components(np.stack([a[:, k], b[:, k]]), y)
        auc = v10.mean(axis=1, keepdims=True)
        m, n = v10.shape[1], v01.shape[1]
        phi = np.zeros((2, len(y)))
        phi[:, y == 1] = (v10 - auc) / math.sqrt(m * (m - 1))
        phi[:, y == 0] = (v01 - auc) / math.sqrt(n * (n - 1))
        per_image += (phi[1] - phi[0]) / 3
    result = delong.delong_macro_test(a, b, labels)
    assert result["se"] == pytest.approx(math.sqrt(per_image @ per_image), rel=1e-10)
    expected_diff = np.mean(
        [sklearn.metrics.roc_auc_score(labels[:, k], b[:, k]) for k in range(3)]
    ) - np.mean([sklearn.metrics.roc_auc_score(labels[:, k], a[:, k]) for k in range(3)])
    assert result["diff"] == pytest.approx(expected_diff, abs=1e-12)
    assert result["n_labels"] == 3


def test_delong_se_matches_an_image_bootstrap_on_independent_images():
    """DeLong's SE is the asymptotic SD of the difference over independent images.

    Tolerance 8%: the SD of B = 2000 bootstrap resamples has a Monte Carlo
    error of about 1/sqrt(2B) = 1.6%, and DeLong and the bootstrap differ by
    O(1/N) at N = 3000; 8% is five Monte Carlo SDs, yet far below the error of
    dropping the models' covariance or the labels' (checked below).
    """
    a, b, labels = correlated_models(3000, seed=3, num_labels=3)
    counts = bootstrap.resample_patients(3000, 2000, np.random.default_rng(4)).astype(np.int32)
    diffs = np.stack(
        [
            bootstrap.weighted_auroc(b[:, k], labels[:, k], counts)
            - bootstrap.weighted_auroc(a[:, k], labels[:, k], counts)
            for k in range(3)
        ],
        axis=1,
    )
    for k in range(3):
        result = delong.delong_test(a[:, k], b[:, k], labels[:, k])
        assert result["se"] == pytest.approx(diffs[:, k].std(ddof=1), rel=0.08)
        # The models' covariance matters: without it the SE is far too large.
        _, cov = delong.delong_covariance(np.stack([a[:, k], b[:, k]]), labels[:, k])
        assert math.sqrt(cov[0, 0] + cov[1, 1]) > 1.3 * result["se"]
    macro = delong.delong_macro_test(a, b, labels)
    macro_boot_sd = diffs.mean(axis=1).std(ddof=1)
    assert macro["se"] == pytest.approx(macro_boot_sd, rel=0.08)
    # The labels' covariance matters: labels taken as independent give a far smaller SE.
    per_label_se = [delong.delong_test(a[:, k], b[:, k], labels[:, k])["se"] for k in range(3)]
    assert math.sqrt(np.sum(np.square(per_label_se))) / 3 < 0.85 * macro["se"]


def test_p_values_are_uniform_when_the_models_are_equally_good():
    rng = np.random.default_rng(5)
    p = []
    for _ in range(300):
        labels = (rng.random(400) < 0.3).astype(float)
        shared = rng.normal(size=400) + labels
        # Same signal, independent noise: equal AUROCs in expectation.
        a, b = shared + rng.normal(size=400), shared + rng.normal(size=400)
        p.append(delong.delong_test(a, b, labels)["p"])
    # A wrong variance (e.g. no covariance term) makes p far from uniform: KS p ~ 0.
    assert scipy.stats.kstest(p, "uniform").pvalue > 0.01


def test_identical_models_give_zero_difference_and_p_one():
    a, _, labels = correlated_models(500, seed=6, num_labels=2, rounding=1)
    result = delong.delong_test(a[:, 0], a[:, 0], labels[:, 0])
    assert (result["diff"], result["se"], result["z"], result["p"]) == (0.0, 0.0, 0.0, 1.0)
    macro = delong.delong_macro_test(a, a, labels)
    assert (macro["diff"], macro["p"]) == (0.0, 1.0)


def test_degenerate_labels_give_nan_with_a_reason():
    scores = np.arange(10.0)
    for labels in (np.zeros(10), np.eye(10)[3], 1 - np.eye(10)[3]):
        result = delong.delong_test(scores, scores[::-1], labels)
        assert math.isnan(result["p"]) and math.isnan(result["se"])
        assert "DeLong needs 2 positives and 2 negatives" in result["reason"]
    labels = np.stack([np.r_[np.ones(5), np.zeros(5)], np.eye(10)[3]], axis=1)
    macro = delong.delong_macro_test(
        np.stack([scores] * 2, 1), np.stack([scores[::-1]] * 2, 1), labels
    )
    assert math.isnan(macro["p"]) and macro["reason"].startswith("label column 1:")
    with pytest.raises(ValueError, match="has 1 and 9"):
        delong.delong_covariance(np.stack([scores, scores]), np.eye(10)[3])
