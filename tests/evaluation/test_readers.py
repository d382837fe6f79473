"""The model against individual readers, on hand-made data and the synthetic twin's readers.

References: rates counted by hand, and the model's operating points found by trying every
threshold (not through sklearn's ROC curve, which the code uses).
"""

import json

import numpy as np
import pytest

from cxr.evaluation import readers
from cxr.tracking.rundir import EvalDir
from cxr_tfds.cxr14_subset import expert_labels, synthetic
from cxr_tfds.labels import LABELS
from tests.helpers.wandb_records import offline_wandb, wandb_summary


def brute_force(probs, truth, reader_sens, reader_spec, achieved=False):
    """(best sensitivity with specificity >= reader's, best specificity with sensitivity >= reader's);
    with `achieved`, also the best specificity among the thresholds giving that sensitivity
    and the best sensitivity among those giving that specificity."""
    y = truth > 0.5
    points = [(np.mean(probs[y] >= t), np.mean(probs[~y] < t)) for t in [*np.unique(probs), np.inf]]
    best_sens = max(sens for sens, spec in points if spec >= reader_spec)
    best_spec = max(spec for sens, spec in points if sens >= reader_sens)
    if not achieved:
        return best_sens, best_spec
    spec_at = max(spec for sens, spec in points if spec >= reader_spec and sens == best_sens)
    sens_at = max(sens for sens, spec in points if sens >= reader_sens and spec == best_spec)
    return best_sens, best_spec, spec_at, sens_at


def test_hand_made_reader_and_model_points():
    truth = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    calls = np.array([1, 1, 0, 0, 1, 0, 0, 0, 0, 0])  # sensitivity 2/4, specificity 5/6
    probs = np.array([0.9, 0.8, 0.4, 0.3, 0.7, 0.6, 0.35, 0.2, 0.1, 0.05])
    e = readers.operating_point(
        probs=probs, truth=truth, patients=np.arange(10), calls=calls, num_bootstrap=200
    )
    assert (e["reader_sensitivity"], e["reader_specificity"]) == (0.5, 5 / 6)
    assert (e["model_sensitivity"], e["model_specificity"]) == brute_force(probs, truth, 0.5, 5 / 6)
    assert e["model_sensitivity"] == 0.5  # 0.9 and 0.8 above 0.7, the one false positive
    assert e["model_specificity"] == 1.0  # 0.9 and 0.8 alone, no false positive
    for key in ("reader_sensitivity", "model_sensitivity", "reader_specificity"):
        low, high = e[f"{key}_ci"]
        assert low <= e[key] <= high
    assert e["sensitivity_diff"] == 0 and e["specificity_diff"] == pytest.approx(1 / 6)
    assert e["reason"] is None


@pytest.mark.parametrize("seed", range(5))
def test_model_points_match_every_threshold_tried(seed):
    rng = np.random.default_rng(seed)
    truth = (rng.random(200) < 0.3).astype(int)
    probs = np.round(rng.random(200) * 0.6 + 0.4 * truth, 2)  # ties on purpose
    calls = np.where(rng.random(200) < 0.2, 1 - truth, truth)
    e = readers.operating_point(
        probs=probs, truth=truth, patients=rng.integers(0, 80, 200), calls=calls, num_bootstrap=50
    )
    sens, spec = np.mean(calls[truth == 1]), np.mean(calls[truth == 0] == 0)
    assert (e["reader_sensitivity"], e["reader_specificity"]) == pytest.approx((sens, spec))
    expected = brute_force(probs, truth, sens, spec, achieved=True)
    found = ("model_sensitivity", "model_specificity")
    found += ("model_specificity_achieved", "model_sensitivity_achieved")
    assert tuple(e[k] for k in found) == pytest.approx(expected)


def test_the_specificity_achieved_is_the_highest_at_the_matched_sensitivity():
    """The audit's case: every positive above every negative, so full sensitivity is
    reached with no false positive; the old code reported the last point of full
    sensitivity at the reader's specificity (2/3 here), not the 1 reachable."""
    truth = np.array([1, 1, 0, 0, 0])
    probs = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    calls = np.array([1, 1, 1, 0, 0])  # sensitivity 1, specificity 2/3
    e = readers.operating_point(
        probs=probs, truth=truth, patients=np.arange(5), calls=calls, num_bootstrap=50
    )
    assert e["model_sensitivity"] == 1.0
    assert e["model_specificity_achieved"] == 1.0


def test_a_clearly_better_model_has_a_small_paired_p_and_a_copy_of_the_reader_p_one():
    rng = np.random.default_rng(0)
    truth = (rng.random(600) < 0.4).astype(int)
    calls = np.where(rng.random(600) < 0.3, 1 - truth, truth)  # a poor reader
    patients = np.arange(600) // 2
    better = readers.operating_point(
        probs=truth + rng.normal(0, 0.2, 600), truth=truth, patients=patients, calls=calls
    )
    assert better["sensitivity_diff"] > 0.2 and better["sensitivity_p"] < 0.01
    same = readers.operating_point(
        probs=calls.astype(float), truth=truth, patients=patients, calls=calls, num_bootstrap=100
    )
    assert same["sensitivity_diff"] == 0 and same["sensitivity_p"] == 1


def test_no_positive_is_said_so():
    e = readers.operating_point(
        probs=np.linspace(0, 1, 6), truth=np.zeros(6), patients=np.arange(6), calls=np.zeros(6)
    )
    assert e["reason"] == "no positive among the images this reader read"
    assert np.isnan(e["model_sensitivity"]) and np.isnan(e["reader_sensitivity"])


def test_independent_readers_of_the_real_set(sample_dir):
    folder = sample_dir.parent / "google_expert_labels"
    if not folder.is_dir():
        pytest.skip(f"Google's expert labels not found at {folder}")
    sets = expert_labels.read_all(folder)
    assert readers.independent_readers(sets["expert_all"]) == ["4343880271", "4343882583"]
    assert readers.independent_readers(sets["expert_four"]) == []


@pytest.fixture(autouse=True)
def no_wandb(monkeypatch):
    """W&B off, but where a test turns it on (`offline_wandb`)."""
    monkeypatch.setenv("WANDB_MODE", "disabled")


def test_the_synthetic_twin_runs_the_whole_path(tmp_path, capsys, monkeypatch):
    offline_wandb(monkeypatch, tmp_path)
    nih = tmp_path / "nih"
    synthetic.write_manual_dir(nih, num_patients=80, seed=0, image_size=32)
    experts = expert_labels.read_all(nih)["expert_all"]
    ids = sorted(experts.truth)
    truth = np.array([experts.truth[i].findings for i in ids], float)
    probs = np.clip(truth * 0.5 + np.random.default_rng(0).random(truth.shape) * 0.6, 0, 1)
    folder = tmp_path / "eval"
    folder.mkdir()
    (folder / EvalDir.PREDICTIONS).write_bytes(
        EvalDir.encode_predictions(
            image_id=ids,
            patient_id=[int(i[:8]) for i in ids],
            labels=truth,
            probs=probs,
            label_names=LABELS,
            dataset="synthetic",
            split="test",
        )
    )
    out = tmp_path / "out"
    readers.main([str(folder), "--out", str(out), "--nih-dir", str(nih), "--num-bootstrap", "50"])
    report = json.loads((out / readers.JSON_FILE).read_text())
    assert report["readers"] == ["4343880271", "4343882583"]
    assert report["n_images"] == len(ids)
    column = int(np.argmax(truth.sum(axis=0)))  # the commonest finding: defined points
    finding = LABELS[column]
    entry = report["findings"][finding]["4343880271"]
    calls = [c.findings[column] for i in ids for c in experts.readers[i] if c.reader_id == "4343880271"]  # fmt: skip
    positives = truth[:, column] == 1
    assert entry["reader_sensitivity"] == pytest.approx(np.mean(np.array(calls)[positives]))
    assert (out / readers.plot_file(finding)).is_file()
    assert "Model vs 2 independent readers" in capsys.readouterr().out
    # W&B: the table, a row per finding and reader, and the plots, logged from `out`.
    summary = wandb_summary(out)
    assert summary["test/expert_all/readers.nrows"] == 2 * len(report["findings"])
    (files,) = out.glob("wandb/offline-run-*/files")
    assert (files / summary[f"test/expert_all/readers/{finding}.path"]).is_file()


def test_a_missing_expert_folder_is_one_line_and_writes_nothing(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        readers.main([str(tmp_path), "--out", str(tmp_path / "out"), "--nih-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs Google's all_findings_expert_labels/ folder" in err
    assert not (tmp_path / "out").exists()
