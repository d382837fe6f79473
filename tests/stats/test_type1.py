"""Measured type-I error: the clustered test holds 0.05 with 30 positive patients,
the patient bootstrap over-rejects with 2; the withholding rule reads the table."""

import json

import numpy as np
import scipy.stats

from cxr.stats import type1


def binomial_bounds(n, rate, tail=0.0005):
    """Rejection counts a test of true level `rate` stays within, both ways, but in 1 run of 1000."""
    return scipy.stats.binom.ppf(tail, n, rate), scipy.stats.binom.ppf(1 - tail, n, rate)


def test_clustered_test_holds_its_level_with_30_positive_patients():
    """400 null splits: a level-0.05 test rejects 7 to 36 of them (binomial, 99.9%).

    The split's own SE (110 patients, 30 positive) leaves Obuchowski's test
    near its level (0.054 in docs/results/type1.json); DeLong, ignoring the
    patients, rejects 0.135 of them there: far above the bound, so a variance
    that forgot the clustering would fail here.
    """
    n = 400
    p = type1.null_p_values(30, num_simulations=n, num_bootstrap=0, seed=11, tests=("obuchowski", "delong"))  # fmt: skip
    low, high = binomial_bounds(n, type1.ALPHA)
    rejections = np.sum(p["obuchowski"] < type1.ALPHA)
    assert low <= rejections <= high
    assert np.sum(p["delong"] < type1.ALPHA) > high


def test_patient_bootstrap_over_rejects_with_2_positive_patients():
    """150 null splits: at level 0.05 more than 17 rejections happen in 1 run of 1000.

    The bootstrap rejects 0.37 of them (docs/results/type1.json): 55 expected,
    its own binomial SD about 6, so the assertion fails for a sound bootstrap
    and holds for this one with room to spare. 200 resamples keep it fast; the
    audit's over-rejection does not come from too few resamples.
    """
    n = 150
    p = type1.null_p_values(2, num_simulations=n, num_bootstrap=200, seed=12, tests=("bootstrap",))
    _, high = binomial_bounds(n, type1.ALPHA, tail=0.001)
    assert np.sum(p["bootstrap"] < type1.ALPHA) > high


def test_null_splits_have_k_positive_patients_and_exchangeable_models():
    rng = np.random.default_rng(0)
    a, b, labels, patients = type1.simulate_split(3, rng)
    assert np.unique(patients[labels == 1]).tolist() == [0, 1, 2]
    assert np.unique(patients).size == type1.SETTING["num_patients"]
    # Exchangeable: over many splits, the mean AUROC difference is ~0 (checked loosely).
    diffs = []
    for _ in range(200):
        a, b, labels, patients = type1.simulate_split(30, rng)
        diffs.append(type1.obuchowski_test(a, b, labels, patients)["diff"])
    # 200 draws of SD ~0.03: their mean has SD ~0.002; 0.01 is five of them.
    assert abs(np.mean(diffs)) < 0.01


def table(rates):
    return {
        "max_rate": 0.06,
        "rows": [
            {"positive_patients": k, "bootstrap": {"rate": r}, "obuchowski": {"rate": 0.05}}
            for k, r in rates.items()
        ],
    }


def test_withheld_uses_the_largest_measured_count_at_or_below():
    rates = table({2: 0.34, 3: 0.2, 5: 0.09, 10: 0.055, 30: 0.05})
    assert type1.withheld("bootstrap", 1, rates).startswith("type-I error not measured below 2")
    assert "34% of true nulls" in type1.withheld("bootstrap", 2, rates)
    assert "with 5 positive patients" in type1.withheld("bootstrap", 9, rates)
    assert type1.withheld("bootstrap", 10, rates) is None
    assert type1.withheld("bootstrap", 500, rates) is None
    assert type1.withheld("obuchowski", 2, rates) is None
    assert type1.withheld("bootstrap", 2, None) is None  # no table: nothing withheld


def test_study_file_records_command_commit_date_and_machine(tmp_path, capsys):
    out = tmp_path / "type1.json"
    type1.main(["--out", str(out), "--num-simulations", "3", "--num-bootstrap", "5"])
    saved = json.loads(out.read_text())
    assert saved["command"] == f"cxr type1 --out {out} --num-simulations 3 --num-bootstrap 5"
    assert len(saved["commit"]) == 40 and saved["date"].startswith("20")
    assert saved["machine"]["cores"] >= 1 and saved["machine"]["cpu"]
    assert [row["positive_patients"] for row in saved["rows"]] == list(type1.COUNTS)
    for row in saved["rows"]:
        for test in type1.TESTS:
            assert row[test]["defined"] == 3
            assert row[test]["rate"] == row[test]["rejections"] / 3
    assert "30 positive patients" in capsys.readouterr().out
