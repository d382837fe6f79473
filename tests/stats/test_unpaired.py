"""cxr.stats.unpaired against scikit-learn and a brute-force bootstrap that expands each
resample into its images."""

import numpy as np
import pytest
import sklearn.metrics

from cxr.stats import unpaired


def _group(rng, num_patients, first_patient, shift):
    """Patients with 1-4 images each, labels and scores a little separated by `shift`."""
    per_patient = rng.integers(1, 5, num_patients)
    patients = np.repeat(np.arange(first_patient, first_patient + num_patients), per_patient)
    labels = (rng.random(len(patients)) < 0.4).astype(int)
    labels[:2] = [0, 1]  # both classes, whatever the draw
    scores = labels * shift + rng.normal(size=len(patients))
    return scores, labels, patients


def _brute_force_aurocs(scores, labels, patients, num_bootstrap, seed):
    """Each resample drawn as the module's stream draws it, expanded into images, sklearn's AUROC."""
    ids = np.unique(patients)
    counts = np.random.default_rng(seed).multinomial(
        len(ids), np.full(len(ids), 1 / len(ids)), num_bootstrap
    )
    out = []
    for row in counts:
        repeat = row[np.searchsorted(ids, patients)]
        y, s = np.repeat(labels, repeat), np.repeat(scores, repeat)
        out.append(sklearn.metrics.roc_auc_score(y, s) if 0 < y.sum() < len(y) else np.nan)
    return np.array(out)


def test_the_auroc_statistic_on_the_group_is_sklearns():
    scores, labels, patients = _group(np.random.default_rng(0), 40, 0, 1.0)
    scores = np.round(scores, 1)  # ties, counted half by both
    got = unpaired.value(unpaired.auroc_statistic(scores, labels), patients)
    assert got == pytest.approx(sklearn.metrics.roc_auc_score(labels, scores), abs=1e-12)


def test_the_rate_statistic_counts_hits_among_the_eligible_by_hand():
    hits = np.array([1, 0, 1, 1, 0, 1])
    eligible = np.array([1, 1, 0, 1, 1, 0])  # hits outside the eligible do not count
    patients = np.array([5, 5, 6, 7, 7, 8])
    assert unpaired.value(unpaired.rate_statistic(hits, eligible), patients) == 2 / 4
    # Patient 5 drawn twice, 7 not at all: hits 1+1 of eligible 2+2 images.
    counts = np.array([[2, 1, 0, 1]])  # patients 5, 6, 7, 8 in sorted order
    groups = np.array([0, 0, 1, 2, 2, 3])
    assert unpaired.rate_statistic(hits, eligible)(counts, groups)[0] == 2 / 4
    empty = np.array([[0, 1, 0, 1]])  # no eligible image drawn: undefined
    assert np.isnan(unpaired.rate_statistic(hits, eligible)(empty, groups)[0])


def test_the_difference_resamples_each_group_alone_as_a_brute_force_bootstrap_does():
    rng = np.random.default_rng(1)
    a = _group(rng, 25, 0, 0.5)
    b = _group(rng, 30, 1000, 1.5)
    num_bootstrap, seed = 40, 3
    got = unpaired.difference(
        unpaired.auroc_statistic(*a[:2]),
        a[2],
        unpaired.auroc_statistic(*b[:2]),
        b[2],
        num_bootstrap=num_bootstrap,
        seed=seed,
    )
    seed_a, seed_b = np.random.SeedSequence(seed).spawn(2)
    boot_a = _brute_force_aurocs(*a, num_bootstrap, seed_a)
    boot_b = _brute_force_aurocs(*b, num_bootstrap, seed_b)
    diffs = boot_b - boot_a
    valid = diffs[np.isfinite(diffs)]
    assert got["n_valid_resamples"] == valid.size
    assert got["ci_low"] == pytest.approx(np.percentile(valid, 2.5), abs=1e-12)
    assert got["ci_high"] == pytest.approx(np.percentile(valid, 97.5), abs=1e-12)
    expected = sklearn.metrics.roc_auc_score(b[1], b[0]) - sklearn.metrics.roc_auc_score(a[1], a[0])
    assert got["diff"] == pytest.approx(expected, abs=1e-12)


def test_groups_sharing_a_patient_are_refused():
    a = _group(np.random.default_rng(2), 10, 0, 1.0)
    b = _group(np.random.default_rng(3), 10, 9, 1.0)  # patient 9 in both
    with pytest.raises(ValueError, match="1 patients are in both groups"):
        unpaired.difference(
            unpaired.auroc_statistic(*a[:2]),
            a[2],
            unpaired.auroc_statistic(*b[:2]),
            b[2],
            num_bootstrap=5,
            seed=0,
        )


def test_a_group_too_small_to_estimate_says_why():
    where = "in sex=F"
    assert unpaired.withheld_reason([0, 0, 0], [1, 2, 3], where) == "no positive in sex=F"
    assert unpaired.withheld_reason([1, 1], [1, 2], where) == "no negative in sex=F"
    one = unpaired.withheld_reason([1, 1, 0, 0], [1, 1, 2, 3], where)
    assert one == "1 patient with a positive in sex=F; an estimate needs 2"
    assert unpaired.withheld_reason([1, 1, 0, 0], [1, 4, 2, 3], where) is None
    assert unpaired.too_few_patients([7, 7], where) == "1 patient in sex=F; an estimate needs 2"
    assert unpaired.too_few_patients([7, 8], where) is None
