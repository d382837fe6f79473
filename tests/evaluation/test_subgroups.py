"""The subgroup audit against hand computations: age bands, per-subgroup AUROC against
scikit-learn, the gap against scikit-learn on the patients wholly on each side, and
underdiagnosis (FPR of "No Finding") at a validation max-F1 threshold found by brute force."""

import math

import numpy as np
import pytest
import sklearn.metrics

from cxr.evaluation import subgroup_report, subgroups, underdiagnosis
from cxr.evaluation.evaluators.subgroups import Subgroups
from cxr.tracking import writer
from cxr.tracking.predictions import Predictions
from cxr.tracking.rundir import EvalDir

NAMES = ("Atelectasis", "Effusion", "Mass")


def _preds(rng, n, split, *, attributes=True, known=None):
    """Predictions made by hand: patients of 1-3 images, sex and birth decade per patient,
    view per image; scores a little above chance."""
    patients = np.repeat(np.arange(n), rng.integers(1, 4, n))[:n]
    labels = (rng.random((n, len(NAMES))) < 0.25).astype(np.float32)
    probs = np.clip(0.35 * labels + 0.65 * rng.random(labels.shape), 0, 1).round(2)  # ties too
    preds = Predictions(
        probs=probs,
        image_id=np.array([f"{i:05d}.png" for i in range(n)]),
        label_names=NAMES,
        labels=labels,
        patient_id=patients,
        dataset="made_up",
        split=split,
    )
    # Set after construction: the fields may or may not be declared yet (label-space work).
    preds.known = known
    preds.attributes = {}
    if attributes:
        age = (patients * 7 % 95).astype(float)
        age[::17] = np.nan  # some unknown
        preds.attributes = {
            "sex": np.where(patients % 2, "F", "M"),
            "age": age,
            "view": np.where(rng.random(n) < 0.5, "PA", "AP"),
        }
    return preds


def test_age_bands_hold_low_to_below_high_and_unknown_is_in_none():
    ages = np.array([0, 19, 19.9, 20, 39, 40, 59, 60, 79, 80, 101, np.nan, -1])
    groups = subgroups.groups(subgroups.attributes_of(_with_attributes({"age": ages})))
    got = {g.name: np.flatnonzero(g.mask).tolist() for g in groups}
    assert got == {
        "age=0-20": [0, 1, 2],
        "age=20-40": [3, 4],
        "age=40-60": [5, 6],
        "age=60-80": [7, 8],
        "age=80+": [9, 10],
    }


def _with_attributes(attributes):
    preds = Predictions(probs=np.zeros((len(next(iter(attributes.values()))), 1)), image_id=[], label_names=("x",))  # fmt: skip
    preds.attributes = attributes
    return preds


def test_groups_by_sex_view_and_sex_x_age_and_none_without_attributes():
    preds = _preds(np.random.default_rng(0), 60, "test")
    names = [g.name for g in subgroups.groups(subgroups.attributes_of(preds))]
    assert names[:9] == ["sex=M", "sex=F", "age=0-20", "age=20-40", "age=40-60", "age=60-80", "age=80+", "view=PA", "view=AP"]  # fmt: skip
    assert names[9:] == [f"sex={s},age={a}" for s in "MF" for a in ("0-20", "20-40", "40-60", "60-80", "80+")]  # fmt: skip
    bare = _preds(np.random.default_rng(0), 60, "test", attributes=False)
    assert subgroups.report(test=bare, val=bare, num_bootstrap=5, seed=0) is None


def test_subgroup_auroc_counts_and_gap_against_sklearn_on_known_labels():
    rng = np.random.default_rng(1)
    known = (rng.random((400, len(NAMES))) < 0.9).astype(np.uint8)
    test = _preds(rng, 400, "test", known=known)
    report = subgroups.report(test=test, val=_preds(rng, 200, "val"), num_bootstrap=50, seed=0)
    female = test.attributes["sex"] == "F"
    for i, label in enumerate(NAMES):
        mine = female & (known[:, i] == 1)
        row = report["per_label"][label]["sex=F"]
        expected = sklearn.metrics.roc_auc_score(test.labels[mine, i], test.probs[mine, i])
        assert row["auroc"] == pytest.approx(expected, abs=1e-12)
        assert row["ci_low"] <= row["auroc"] <= row["ci_high"]
        positives = mine & (test.labels[:, i] == 1)
        assert row["n_pos_images"] == positives.sum()
        assert row["n_pos_patients"] == len(set(test.patient_id[positives]))
        assert row["n_unknown"] == (female & (known[:, i] == 0)).sum()
        # The gap: patients wholly inside against patients wholly outside (sex is per
        # patient here, so none is mixed), both on known labels only.
        rest = ~female & (known[:, i] == 1)
        gap = report["per_label"][label]["sex=F"]["gap"]
        assert gap["n_mixed_patients"] == 0
        rest_auroc = sklearn.metrics.roc_auc_score(test.labels[rest, i], test.probs[rest, i])
        assert gap["diff"] == pytest.approx(expected - rest_auroc, abs=1e-12)


def test_the_gap_leaves_out_patients_with_images_on_both_sides():
    test = _preds(np.random.default_rng(2), 300, "test")
    report = subgroups.report(test=test, val=test, num_bootstrap=20, seed=0)
    pa = test.attributes["view"] == "PA"
    mixed = set(test.patient_id[pa]) & set(test.patient_id[~pa])
    kept = ~np.isin(test.patient_id, list(mixed))
    gap = report["per_label"]["Effusion"]["view=PA"]["gap"]
    assert gap["n_mixed_patients"] == len(mixed) > 0
    auroc = {
        side: sklearn.metrics.roc_auc_score(test.labels[m, 1], test.probs[m, 1])
        for side, m in (("group", pa & kept), ("rest", ~pa & kept))
    }
    assert gap["auroc_group"] == pytest.approx(auroc["group"], abs=1e-12)
    assert gap["diff"] == pytest.approx(auroc["group"] - auroc["rest"], abs=1e-12)


def test_a_subgroup_too_small_keeps_its_counts_and_gets_no_number():
    test = _preds(np.random.default_rng(3), 200, "test")
    report = subgroups.report(test=test, val=test, num_bootstrap=20, seed=0)
    withheld = 0
    for rows in report["per_label"].values():
        for name, row in rows.items():
            if row["n_pos_patients"] < 2 or row["n_neg_patients"] < 2:
                assert math.isnan(row["auroc"]) and row["reason"], name
                assert math.isnan(row["gap"]["diff"]) and row["gap"]["reason"], name
                withheld += 1
            else:
                assert row["reason"] is None and math.isfinite(row["auroc"]), name
    assert 0 < withheld < sum(len(rows) for rows in report["per_label"].values())


def _brute_force_threshold(score, truth):
    """The smallest threshold with the highest F1 of `score >= t` over every score value."""
    best, best_f1 = None, -1.0
    for t in np.unique(score):
        called = score >= t
        tp, fp, fn = (called & truth).sum(), (called & ~truth).sum(), (~called & truth).sum()
        f1 = 2 * tp / (2 * tp + fp + fn)
        if f1 > best_f1:
            best, best_f1 = t, f1
    return best


def test_underdiagnosis_is_the_no_finding_fpr_per_subgroup_at_the_validation_max_f1_threshold():
    rng = np.random.default_rng(4)
    test, val = _preds(rng, 500, "test"), _preds(rng, 300, "validation")
    report = subgroups.report(test=test, val=val, num_bootstrap=30, seed=0)["underdiagnosis"]
    # By hand: "No Finding" = 1 - the highest finding probability; truth = no positive.
    val_score = np.array([1 - max(row) for row in val.probs.tolist()])
    val_truth = np.array([not any(row) for row in val.labels.tolist()])
    threshold = _brute_force_threshold(val_score, val_truth)
    assert report["threshold"] == pytest.approx(threshold, abs=1e-12)
    score = np.array([1 - max(row) for row in test.probs.tolist()])
    truth = np.array([not any(row) for row in test.labels.tolist()])
    for sex in "MF":
        diseased = [i for i in range(500) if test.attributes["sex"][i] == sex and not truth[i]]
        healthy = [i for i in range(500) if test.attributes["sex"][i] == sex and truth[i]]
        fpr = sum(score[i] >= threshold for i in diseased) / len(diseased)
        fnr = sum(score[i] < threshold for i in healthy) / len(healthy)
        rows = report["groups"][f"sex={sex}"]
        assert rows["underdiagnosis"]["rate"] == pytest.approx(fpr, abs=1e-12)
        assert rows["overdiagnosis"]["rate"] == pytest.approx(fnr, abs=1e-12)
        assert rows["underdiagnosis"]["n_images"] == len(diseased)


def test_no_finding_truth_is_unknown_without_a_positive_where_a_label_is_unknown():
    preds = _preds(np.random.default_rng(5), 4, "test")
    preds.labels[:] = [[0, 0, 0], [1, 0, 0], [0, 0, 0], [0, 1, 0]]
    preds.known = np.array([[1, 1, 1], [1, 0, 1], [1, 0, 1], [1, 1, 0]], np.uint8)
    _, truth, known = underdiagnosis.no_finding(preds)
    assert truth[known].tolist() == [True, False, False] and known.tolist() == [True, True, False, True]  # fmt: skip


def test_the_evaluator_writes_its_files_and_keys_and_skips_a_split_without_attributes(tmp_path):
    rng = np.random.default_rng(6)
    test, val = _preds(rng, 150, "test"), _preds(rng, 100, "validation")
    evaluator = Subgroups(num_bootstrap=10, seed=0)
    result = evaluator.result(preds=test, val=val, eval_dir=EvalDir(tmp_path))
    written = {p.relative_to(tmp_path).as_posix() for p in writer.write([result])}
    assert written == {"subgroups.json", "subgroups.md", *(f"subgroups/{x}.png" for x in NAMES)}
    assert {writer.wandb_key("test", k) for k in result.log} == {
        "test/subgroups/auroc_table",
        "test/subgroups/diagnosis_table",
        *(f"test/subgroups/forest/{x}" for x in NAMES),
    }
    assert "test/subgroups/underdiagnosis/sex=F" in {writer.wandb_key("test", k) for k in result.summary}  # fmt: skip
    shown = [k for s in evaluator.sections(lambda k: f"test/{k}", NAMES) for p in s["panels"] for k in p["keys"]]  # fmt: skip
    assert set(shown) == {writer.wandb_key("test", k) for k in result.log}
    bare = _preds(rng, 50, "test", attributes=False)
    skipped = evaluator.result(preds=bare, val=val, eval_dir=EvalDir(tmp_path / "bare"))
    assert not skipped.files and skipped.text.startswith("Subgroups: skipped:")
    assert subgroup_report.JSON_FILE == "subgroups.json"
