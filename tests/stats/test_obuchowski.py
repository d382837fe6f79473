"""Obuchowski's clustered test against hand computation, explicit loops, DeLong and a patient bootstrap."""

import math
from fractions import Fraction

import numpy as np
import pytest

from cxr.stats import bootstrap, delong, obuchowski


def psi(x, y):
    """1 if the positive's score x beats the negative's y, 1/2 on a tie (the paper's psi)."""
    return 1.0 if x > y else 0.5 if x == y else 0.0


def looped_covariance(scores, labels, patients):
    """Obuchowski's covariance of R models by explicit loops over patients, images and pairs."""
    ids = sorted(set(patients))
    pos = [i for i in range(len(labels)) if labels[i] == 1]
    neg = [j for j in range(len(labels)) if labels[j] == 0]
    M, N, R = len(pos), len(neg), len(scores)
    auc = [sum(psi(s[i], s[j]) for i in pos for j in neg) / (M * N) for s in scores]
    x = np.zeros((R, len(ids)))  # V10 summed over a patient's positives
    y = np.zeros((R, len(ids)))  # V01 summed over a patient's negatives
    m, n = np.zeros(len(ids)), np.zeros(len(ids))
    for c, pid in enumerate(ids):
        for k in range(len(labels)):
            if patients[k] != pid:
                continue
            if labels[k] == 1:
                m[c] += 1
                for r in range(R):
                    x[r, c] += sum(psi(scores[r][k], scores[r][j]) for j in neg) / N
            else:
                n[c] += 1
                for r in range(R):
                    y[r, c] += sum(psi(scores[r][i], scores[r][k]) for i in pos) / M
    i10, i01, num = (m > 0).sum(), (n > 0).sum(), len(ids)
    cov = np.zeros((R, R))
    for r in range(R):
        for s in range(R):
            s10 = sum((x[r, c] - m[c] * auc[r]) * (x[s, c] - m[c] * auc[s]) for c in range(num))
            s01 = sum((y[r, c] - n[c] * auc[r]) * (y[s, c] - n[c] * auc[s]) for c in range(num))
            s11_rs = sum((x[r, c] - m[c] * auc[r]) * (y[s, c] - n[c] * auc[s]) for c in range(num))
            s11_sr = sum((x[s, c] - m[c] * auc[s]) * (y[r, c] - n[c] * auc[r]) for c in range(num))
            cov[r, s] = (
                i10 / ((i10 - 1) * M) * s10 / M
                + i01 / ((i01 - 1) * N) * s01 / N
                + num / (num - 1) * (s11_rs + s11_sr) / (M * N)
            )
    return np.array(auc), cov


def clustered_models(num_patients, seed, rounding=None):
    """Two models with equal expected AUROC; patients with 1-4 images, errors correlated within patient."""
    rng = np.random.default_rng(seed)
    patients = np.repeat(np.arange(num_patients), rng.integers(1, 5, num_patients))
    sick = rng.random(num_patients) < 0.3
    labels = (sick[patients] & (rng.random(len(patients)) < 0.7)).astype(float)
    shared = labels + rng.normal(size=num_patients)[patients] + 0.5 * rng.normal(size=len(labels))

    def model():
        own = 0.6 * rng.normal(size=num_patients)[patients]
        return shared + own + 0.6 * rng.normal(size=len(labels))

    a, b = model(), model()
    if rounding is not None:
        a, b = np.round(a, rounding), np.round(b, rounding)
    return a, b, labels, patients


def test_variance_equals_hand_computation():
    # Patients A-D; B has only a positive, C only negatives; 0.6 ties across classes.
    scores = np.array([0.9, 0.3, 0.6, 0.5, 0.6, 0.4, 0.1])
    labels = np.array([1, 0, 1, 0, 0, 1, 0])
    patients = np.array(list("AABCCDD"))
    # AUROC: 0.9 beats 4 negatives, 0.6 beats 3 and ties 1, 0.4 beats 2: 9.5 / 12.
    theta = Fraction(19, 24)
    # X_i - m_i theta: A 1 - theta, B 7/8 - theta, D 1/2 - theta (C has no positive).
    dx = [1 - theta, Fraction(7, 8) - theta, 0, Fraction(1, 2) - theta]
    # Y_i - n_i theta: A 3/3 - theta (0.3 is beaten by all three), C (2/3 + 1.5/3) - 2 theta, D 1 - theta.
    dy = [1 - theta, 0, Fraction(2, 3) + Fraction(1, 2) - 2 * theta, 1 - theta]
    M, N, I, I10, I01 = 3, 4, 4, 3, 3  # noqa: E741 (the paper's names)
    s10 = Fraction(I10, (I10 - 1) * M) * sum(d * d for d in dx)
    s01 = Fraction(I01, (I01 - 1) * N) * sum(d * d for d in dy)
    s11 = Fraction(I, I - 1) * sum(a * b for a, b in zip(dx, dy, strict=True))
    variance = s10 / M + s01 / N + 2 * s11 / (M * N)
    aurocs, cov = obuchowski.obuchowski_covariance(scores[None], labels, patients)
    assert aurocs[0] == pytest.approx(float(theta), abs=1e-15)
    assert cov[0, 0] == pytest.approx(float(variance), rel=1e-12)  # float round-off only


def test_covariance_equals_explicit_loops_with_ties_and_mixed_patients():
    a, b, labels, patients = clustered_models(25, seed=1, rounding=1)
    scores = np.stack([a, b, -a + 0.3 * b])  # three models, one worse than chance
    aurocs, cov = obuchowski.obuchowski_covariance(scores, labels, patients)
    expected_aurocs, expected_cov = looped_covariance(scores.tolist(), labels, patients.tolist())
    np.testing.assert_allclose(aurocs, expected_aurocs, rtol=1e-12)
    np.testing.assert_allclose(cov, expected_cov, rtol=1e-10, atol=1e-15)  # summation order only


def test_one_image_per_patient_is_delongs_test():
    a, b, labels, _ = clustered_models(300, seed=2, rounding=1)
    patients = np.arange(len(labels))[::-1]  # unique, in another order than the images
    _, expected = delong.delong_covariance(np.stack([a, b]), labels)
    _, cov = obuchowski.obuchowski_covariance(np.stack([a, b]), labels, patients)
    np.testing.assert_allclose(cov, expected, rtol=1e-10)
    ours = obuchowski.obuchowski_test(a, b, labels, patients)
    theirs = delong.delong_test(a, b, labels)
    assert ours["p"] == pytest.approx(theirs["p"], rel=1e-9)


def test_se_matches_a_patient_bootstrap_and_exceeds_delongs():
    """With many patients, Obuchowski's SE is the SD of the difference over patient resamples.

    Tolerance 8%: 2000 resamples put a Monte Carlo error of 1/sqrt(2B) = 1.6%
    on the bootstrap SD, and the two differ by O(1/I) at I = 1500 patients.
    """
    a, b, labels, patients = clustered_models(1500, seed=3)
    counts = bootstrap.resample_patients(1500, 2000, np.random.default_rng(4)).astype(np.int32)
    diffs = bootstrap.weighted_auroc(b, labels, counts, patients)
    diffs -= bootstrap.weighted_auroc(a, labels, counts, patients)
    result = obuchowski.obuchowski_test(a, b, labels, patients)
    assert result["se"] == pytest.approx(diffs.std(ddof=1), rel=0.08)
    # Images of a patient share each model's error: DeLong's SE misses that.
    assert delong.delong_test(a, b, labels)["se"] < 0.85 * result["se"]


def test_macro_of_one_label_is_the_per_patient_deviation_sum():
    a, b, labels, patients = clustered_models(40, seed=5, rounding=1)
    macro = obuchowski.obuchowski_macro_test(a[:, None], b[:, None], labels[:, None], patients)
    # Per patient: (dX^b - dX^a) / M + (dY^b - dY^a) / N from the looped components.
    auc, _ = looped_covariance([a.tolist(), b.tolist()], labels, patients.tolist())
    M, N = labels.sum(), (1 - labels).sum()
    u = []
    for pid in np.unique(patients):
        total = 0.0
        for k in np.flatnonzero(patients == pid):
            for r, s, sign in ((0, a, -1), (1, b, 1)):
                if labels[k] == 1:
                    v = np.mean([psi(s[k], s[j]) for j in np.flatnonzero(labels == 0)])
                    total += sign * (v - auc[r]) / M
                else:
                    v = np.mean([psi(s[i], s[k]) for i in np.flatnonzero(labels == 1)])
                    total += sign * (v - auc[r]) / N
        u.append(total)
    u = np.array(u)
    expected_se = math.sqrt(len(u) / (len(u) - 1) * (u @ u))
    assert macro["se"] == pytest.approx(expected_se, rel=1e-10)
    assert macro["diff"] == pytest.approx(auc[1] - auc[0], abs=1e-12)


def test_fewer_than_two_positive_patients_is_undefined_with_a_reason():
    scores = np.array([3.0, 7.0, 1.0, 4.0, 0.0, 9.0, 2.0, 8.0, 6.0, 5.0])
    labels = np.r_[np.ones(3), np.zeros(7)]
    patients = np.r_[[0, 0, 0], np.arange(1, 8)]  # three positive images, one patient
    result = obuchowski.obuchowski_test(scores, scores[::-1], labels, patients)
    assert math.isnan(result["p"]) and "has 1 and 7" in result["reason"]
    assert not math.isnan(delong.delong_test(scores, scores[::-1], labels)["p"])
    with pytest.raises(ValueError, match="has 1 and 7"):
        obuchowski.obuchowski_covariance(np.stack([scores]), labels, patients)


def test_zero_variance_gives_undefined_not_p_zero():
    labels = np.r_[np.ones(4), np.zeros(6)]
    patients = np.arange(10)
    perfect = np.arange(10.0)[::-1]  # every positive above every negative
    constant = np.zeros(10)  # every pair tied: AUROC 1/2, no component varies
    for test in (
        obuchowski.obuchowski_test(constant, perfect, labels, patients),
        delong.delong_test(constant, perfect, labels),
    ):
        assert test["diff"] == 0.5 and math.isnan(test["p"])
        assert test["reason"].startswith("zero variance")
    same = obuchowski.obuchowski_test(perfect, perfect, labels, patients)
    assert (same["diff"], same["p"]) == (0.0, 1.0)
