"""`cxr compare --unpaired` against scikit-learn and a brute-force bootstrap of each
evaluation alone; its refusals; and the paired per-subgroup rows against scikit-learn."""

import json

import numpy as np
import pytest
import sklearn.metrics

from cxr.errors import EXIT_CODE, UserError
from cxr.evaluation import compare_runs, compare_subgroups, compare_unpaired
from cxr.tracking.rundir import EvalDir

LABELS = ("Atelectasis", "Effusion", "Hernia")


def _run(path, num_patients, *, seed, dataset="cxr14_subset/224", first_patient=0, names=LABELS):
    """An evaluation of its own patients: 1-3 images each, scores above chance."""
    rng = np.random.default_rng(seed)
    patients = np.repeat(np.arange(first_patient, first_patient + num_patients), rng.integers(1, 4, num_patients))  # fmt: skip
    labels = (rng.random((len(patients), len(names))) < 0.3).astype(np.float32)
    probs = np.clip(0.3 * labels + 0.7 * rng.random(labels.shape), 0, 1).astype(np.float32)
    return {
        "image_id": np.array([f"{dataset}-{first_patient}-{i}.png" for i in range(len(patients))]),
        "patient_id": patients, "labels": labels, "probs": probs, "label_names": tuple(names),
        "dataset": dataset, "split": "test", "path": str(path), "known": None,
        "attributes": {"sex": np.where(patients % 2, "F", "M")},
    }  # fmt: skip


def _brute_force(run, column, num_bootstrap, stream):
    """AUROC of each resample of this evaluation's patients, expanded into its images.

    Patients in the order of their ids as text, as compare reads ids of any type."""
    patients = run["patient_id"].astype(str)
    ids = np.unique(patients)
    draws = np.random.default_rng(stream).multinomial(len(ids), np.full(len(ids), 1 / len(ids)), num_bootstrap)  # fmt: skip
    out = []
    for row in draws:
        repeat = row[np.searchsorted(ids, patients)]
        y = np.repeat(run["labels"][:, column], repeat)
        s = np.repeat(run["probs"][:, column], repeat)
        out.append(sklearn.metrics.roc_auc_score(y, s) if 0 < y.sum() < len(y) else np.nan)
    return np.array(out)


def test_unpaired_differences_resample_each_evaluation_alone_on_the_labels_both_predict():
    ref = _run("a", 40, seed=1)
    other = _run("b", 50, seed=2, dataset="other/224", names=("Effusion", "Mass", "Atelectasis"))
    report = compare_unpaired.compare([ref, other], num_bootstrap=30, seed=5)
    comparison = report["comparisons"][0]
    assert comparison["labels"] == ["Atelectasis", "Effusion"]
    assert comparison["not_shared"] == ["Hernia", "Mass"]
    streams = np.random.SeedSequence(5).spawn(2)
    for label, (i, j) in {"Atelectasis": (0, 2), "Effusion": (1, 0)}.items():
        entry = comparison["per_label"][label]
        expected = sklearn.metrics.roc_auc_score(other["labels"][:, j], other["probs"][:, j])
        expected -= sklearn.metrics.roc_auc_score(ref["labels"][:, i], ref["probs"][:, i])
        assert entry["diff"] == pytest.approx(expected, abs=1e-6)
        diffs = _brute_force(other, j, 30, streams[1]) - _brute_force(ref, i, 30, streams[0])
        low, high = np.percentile(diffs[np.isfinite(diffs)], [2.5, 97.5])
        assert (entry["ci_low"], entry["ci_high"]) == pytest.approx((low, high), abs=1e-6)
        positive = ref["labels"][:, i] == 1
        assert entry["ref_counts"]["n_pos_patients"] == len(set(ref["patient_id"][positive]))
    macro = comparison["macro"]
    assert macro["n_labels"] == 2
    assert macro["diff"] == pytest.approx(np.mean([comparison["per_label"][x]["diff"] for x in ("Atelectasis", "Effusion")]))  # fmt: skip


def test_unpaired_refuses_the_same_images_and_shared_patients_of_one_dataset():
    ref = _run("a", 30, seed=1)
    with pytest.raises(
        UserError, match=f"the same {len(ref['image_id'])} images: compare them paired"
    ):
        compare_unpaired.check_disjoint(ref, {**_run("b", 30, seed=1), "path": "b"})
    overlapping = _run("b", 30, seed=3, first_patient=25)  # patients 25-29 in both
    with pytest.raises(UserError, match="share 0 images and 5 patients"):
        compare_unpaired.check_disjoint(ref, overlapping)
    compare_unpaired.check_disjoint(ref, _run("c", 30, seed=3, first_patient=100))  # disjoint


def test_paired_subgroup_rows_are_the_comparison_on_the_subgroups_images():
    ref = _run("a", 80, seed=4)
    other = {**ref, "probs": np.clip(ref["probs"] + 0.1 * ref["labels"], 0, 1), "path": "b"}
    groups = compare_subgroups.compare([ref, other], num_bootstrap=20, seed=0, type1_table=None)
    assert list(groups) == ["sex=M", "sex=F"]
    female = ref["attributes"]["sex"] == "F"
    entry = groups["sex=F"]["comparisons"][0]["per_label"]["Effusion"]
    y = ref["labels"][female, 1]
    expected = sklearn.metrics.roc_auc_score(y, other["probs"][female, 1])
    expected -= sklearn.metrics.roc_auc_score(y, ref["probs"][female, 1])
    assert entry["diff"] == pytest.approx(expected, abs=1e-6)
    assert groups["sex=F"]["n_images"] == female.sum()
    assert entry["n_pos_images"] == y.sum()


def _write(folder, run):
    folder.mkdir(parents=True)
    keys = ("image_id", "patient_id", "labels", "probs", "label_names", "dataset", "split")
    EvalDir(folder).file(EvalDir.PREDICTIONS).write_bytes(EvalDir.encode_predictions(**{k: run[k] for k in keys}))  # fmt: skip


def test_the_cli_compares_unpaired_and_refuses_the_same_images(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    _write(tmp_path / "a", _run("a", 30, seed=1))
    _write(tmp_path / "b", _run("b", 40, seed=2, dataset="other/224"))
    out = tmp_path / "out"
    compare_runs.main([str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out), "--unpaired", "--num-bootstrap", "20"])  # fmt: skip
    report = json.loads((out / compare_runs.JSON_FILE).read_text())
    assert report["mode"] == "unpaired" and report["comparisons"][0]["labels"] == list(LABELS)
    assert "UNPAIRED" in capsys.readouterr().out
    with pytest.raises(SystemExit) as end:
        compare_runs.main([str(tmp_path / "a"), str(tmp_path / "a"), "--out", str(tmp_path / "o2"), "--unpaired"])  # fmt: skip
    assert end.value.code == EXIT_CODE
    assert "compare them paired" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists()


def test_the_cli_compares_saved_evaluations_paired_per_subgroup(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    ref = _run("a", 40, seed=1)
    other = {**ref, "probs": np.clip(ref["probs"] + 0.1 * ref["labels"], 0, 1), "path": "b"}
    keys = ("image_id", "patient_id", "labels", "probs", "label_names", "dataset", "split")
    for name, run in (("a", ref), ("b", other)):
        (tmp_path / name).mkdir()
        saved = EvalDir.encode_predictions(**{k: run[k] for k in keys}, attributes=run["attributes"])  # fmt: skip
        EvalDir(tmp_path / name).file(EvalDir.PREDICTIONS).write_bytes(saved)
    out = tmp_path / "out"
    compare_runs.main([str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out), "--num-bootstrap", "20"])  # fmt: skip
    report = json.loads((out / compare_runs.JSON_FILE).read_text())
    assert list(report["subgroups"]) == ["sex=M", "sex=F"]
    female = ref["attributes"]["sex"] == "F"
    assert report["subgroups"]["sex=F"]["n_images"] == female.sum()
    text = (out / "compare_subgroups.txt").read_text()
    assert text.startswith(f"=== sex=M: {(~female).sum()} images")
    assert "Per subgroup" in capsys.readouterr().out
