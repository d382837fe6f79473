"""`cxr score` on CSVs written here in real tools' formats, against NIH's and Google's real CSVs.

Expected labels are read from the real CSVs with the csv module; AUROCs come from sklearn.
"""

import csv
import json
import os

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from cxr.evaluation import compare_runs, evaluators, label_reference, score, score_report
from cxr.tracking import writer
from cxr.tracking.predictions import Predictions
from cxr.tracking.rundir import EvalDir
from cxr_tfds.labels import LABELS
from tests.helpers.wandb_records import offline_wandb, wandb_summary

# torchxrayvision's NIH-style output order: the 14 NIH labels, then four it also predicts.
XRV = (
    "Atelectasis Consolidation Infiltration Pneumothorax Edema Emphysema Fibrosis Effusion "
    "Pneumonia Pleural_Thickening Cardiomegaly Nodule Mass Hernia"
).split() + ["Lung Lesion", "Fracture", "Lung Opacity", "Enlarged Cardiomediastinum"]
# CheXNet's CLASS_NAMES order, written with a suffix, and without Hernia.
CHEXNET = [x for x in XRV[:14] if x != "Hernia"]


@pytest.fixture(autouse=True)
def no_wandb(monkeypatch):
    """W&B off, but where a test turns it on (`offline_wandb`)."""
    monkeypatch.setenv("WANDB_MODE", "disabled")


@pytest.fixture(scope="module")
def nih(sample_dir):
    """{image: (patient id, set of findings)} and the two lists, read with the csv module."""
    with open(sample_dir / "Data_Entry_2017_v2020.csv", newline="") as f:
        rows = {
            r["Image Index"]: (int(r["Patient ID"]), set(r["Finding Labels"].split("|")))
            for r in csv.DictReader(f)
        }
    test = (sample_dir / "test_list.txt").read_text().split()
    train_val = (sample_dir / "train_val_list.txt").read_text().split()
    return rows, test, train_val


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    return path


def fake_probs(truth, rng):
    """Probabilities that rank positives higher, as float32 (a model's dtype)."""
    return np.clip(0.3 * truth + rng.uniform(0, 0.7, truth.shape), 0, 1).astype(np.float32)


def run(argv, capsys):
    """`cxr score argv`: (exit code, stdout, stderr)."""
    try:
        score.main([str(a) for a in argv])
        code = 0
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def metrics(out):
    return json.loads((out / EvalDir.METRICS).read_text())


def test_torchxrayvision_columns_match_sklearn(nih, sample_dir, tmp_path, capsys):
    rows, test, train_val = nih
    images = test[:300] + train_val[:100] + ["99999999_000.png"]  # the last is not NIH's
    rng = np.random.default_rng(0)
    truth = np.array([[x in rows.get(i, (0, set()))[1] for x in XRV] for i in images], float)
    probs = fake_probs(truth, rng)
    body = [[i, *map(repr, map(float, p))] for i, p in zip(images, probs, strict=True)]
    predictions = write_csv(tmp_path / "xrv.csv", ["image_id", *XRV], body)
    argv = [predictions, "--out", tmp_path / "out", "--nih-dir", sample_dir, "--num-bootstrap", 20]

    code, _, err = run(argv, capsys)
    assert code == 2 and "column 'Lung Lesion' is none of the 14 labels" in err
    assert not (tmp_path / "out").exists()

    code, out, _ = run([*argv, "--ignore", *XRV[14:]], capsys)
    assert code == 0, out
    report = metrics(tmp_path / "out")
    assert report["n_test_images"] == 300 and report["n_val_images"] == 100
    assert report["comparability"] == "not comparable: 300 of 25,596 official test images"
    for k, label in enumerate(XRV[:14]):
        expected = roc_auc_score(truth[:300, k], probs[:300, k])
        assert report["per_label"][label]["auroc"] == pytest.approx(expected, abs=1e-12)
    assert report["input"]["not_in_nih_csv"] == ["99999999_000.png"]
    assert "1 image(s) are not in NIH's Data_Entry CSV, not scored: 99999999_000.png" in out
    for name in (EvalDir.ROC, EvalDir.PREDICTIONS, EvalDir.PER_LABEL):
        assert (tmp_path / "out" / name).is_file()


def test_chexnet_columns_with_a_suffix_and_a_missing_label(nih, sample_dir, tmp_path, capsys):
    rows, test, _ = nih
    images = test[300:500]
    truth = np.array([[x in rows[i][1] for x in CHEXNET] for i in images], float)
    probs = fake_probs(truth, np.random.default_rng(1))
    header = ["Image Index", *(f"{x}_prob" for x in CHEXNET)]
    body = [[i, *map(repr, map(float, p))] for i, p in zip(images, probs, strict=True)]
    predictions = write_csv(tmp_path / "chexnet.csv", header, body)
    code, out, _ = run(
        [predictions, "--out", tmp_path / "o", "--nih-dir", sample_dir, "--num-bootstrap", 10],
        capsys,
    )
    assert code == 0, out
    report = metrics(tmp_path / "o")
    assert report["labels"] == [x for x in LABELS if x != "Hernia"]
    assert report["input"]["labels_missing"] == ["Hernia"]
    for k, label in enumerate(CHEXNET):
        expected = roc_auc_score(truth[:, k], probs[:, k])
        assert report["per_label"][label]["auroc"] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "is not a CSV text file"),
        (b"", "is empty"),
        (b"Image Index,Effusion\n", "has a header but no rows"),
        (b"Image Index,Effusion\na.png,0.1\nb.png,0.2\na.png,0.3\n", "a.png is on rows 2 and 4"),
        (b"Image Index,Effusion\na.png,1.5\n", ":2: column 'Effusion' holds '1.5', not a prob"),
        (b"Image Index,Effusion\na.png,0.1\nb.png,nan\n", ":3: column 'Effusion' holds 'nan'"),
        (b"Image Index,Effusion,effusion \na.png,0.1,0.2\n", "'Effusion' and 'effusion' are both"),
        (b"Image Index,Efusion\na.png,0.1\n", "column 'Efusion' is none of the 14 labels"),
        (b"image_id,Image ID,Effusion\na,a,0.1\n", "needs exactly one image column"),
        (b"Image Index,Effusion\na.png,0.1,0.3\n", ":2: 3 fields, the header has 2"),
    ],
)
def test_bad_predictions_are_one_line_and_write_nothing(tmp_path, capsys, content, message):
    (tmp_path / "p.csv").write_bytes(content)
    code, _, err = run(
        [tmp_path / "p.csv", "--out", tmp_path / "out", "--nih-dir", tmp_path], capsys
    )
    assert code == 2
    assert err.count("\n") == 1 and message in err
    assert sorted(os.listdir(tmp_path)) == ["p.csv"]


def test_missing_expert_folder_says_where_to_put_it(sample_dir, tmp_path, capsys):
    predictions = write_csv(tmp_path / "p.csv", ["Image Index", "Effusion"], [["a.png", "0.1"]])
    nih_dir = tmp_path / "nih"
    nih_dir.mkdir()
    for path in sample_dir.glob("*.*"):
        (nih_dir / path.name).symlink_to(path)
    argv = [predictions, "--out", tmp_path / "out", "--nih-dir", nih_dir, "--labels", "expert_all"]
    code, _, err = run(argv, capsys)
    assert code == 2
    assert f"needs Google's all_findings_expert_labels/ folder in {nih_dir}" in err
    assert not (tmp_path / "out").exists()


def saved_evaluation(folder, nih, rng):
    """A run's evaluation as the Classification evaluator writes it, on real NIH test images."""
    rows, test, train_val = nih
    ids, val_ids = test[1000:1400], train_val[:200]
    labels = np.array([[x in rows[i][1] for x in LABELS] for i in ids], np.float32)
    val_labels = np.array([[x in rows[i][1] for x in LABELS] for i in val_ids], np.float32)
    preds = Predictions(
        probs=fake_probs(labels, rng),
        labels=labels,
        patient_id=np.array([rows[i][0] for i in ids], np.int32),
        image_id=np.array(ids),
        label_names=LABELS,
        official_images=len(ids),
        dataset="cxr14_subset/224",
        split="test",
    )
    val = Predictions(
        probs=fake_probs(val_labels, rng),
        labels=val_labels,
        image_id=np.array(val_ids),
        label_names=LABELS,
        split="validation",
    )
    evaluator = evaluators.Classification(num_bootstrap=10, seed=0)
    writer.write([evaluator.result(preds=preds, val=val, eval_dir=EvalDir(folder))])
    return preds, val_ids, val


def test_a_saved_evaluation_scores_to_its_own_aurocs_and_compares(nih, sample_dir, tmp_path, capsys):  # fmt: skip
    run_eval = tmp_path / "run_eval"
    preds, val_ids, val = saved_evaluation(run_eval, nih, np.random.default_rng(2))
    saved = EvalDir(run_eval).read_predictions()
    body = [[i, *map(repr, map(float, p))] for i, p in zip(saved["image_id"], saved["probs"], strict=True)]  # fmt: skip
    body += [[i, *map(repr, map(float, p))] for i, p in zip(val_ids, val.probs, strict=True)]
    predictions = write_csv(tmp_path / "p.csv", ["Image Index", *LABELS], body)
    out = tmp_path / "scored"
    code, text, _ = run(
        [predictions, "--out", out, "--nih-dir", sample_dir, "--num-bootstrap", 10], capsys
    )
    assert code == 0, text
    mine, theirs = metrics(out), metrics(run_eval)
    for label in LABELS:
        assert mine["per_label"][label]["auroc"] == theirs["per_label"][label]["auroc"]
        # Same validation images: the same operating points too.
        assert mine["per_label"][label]["operating_points"] == theirs["per_label"][label]["operating_points"]  # fmt: skip
    # `cxr compare` takes the scored folder beside the run's evaluation.
    runs = [compare_runs.load_predictions(run_eval), compare_runs.load_predictions(out)]
    report = compare_runs.compare([runs[0], compare_runs.align(*runs)], num_bootstrap=10)
    entries = report["comparisons"][0]["per_label"].values()
    assert all(e["diff"] == 0 for e in entries if e["reason"] is None)
    assert sum(e["reason"] is None for e in entries) >= 10  # labels with positives here


@pytest.fixture(scope="module")
def nih_with_experts(sample_dir, tmp_path_factory):
    expert_dir = sample_dir.parent / "google_expert_labels"
    if not (expert_dir / "all_findings_expert_labels").is_dir():
        pytest.skip(f"Google's expert labels not found at {expert_dir}")
    folder = tmp_path_factory.mktemp("nih")
    for path in sample_dir.glob("*.*"):
        (folder / path.name).symlink_to(path)
    for name in ("all_findings_expert_labels", "four_findings_expert_labels"):
        (folder / name).symlink_to(expert_dir / name)
    return folder


def expert_rows(folder, name):
    with open(folder / name, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def test_expert_all_scores_against_the_radiologists(nih_with_experts, nih, tmp_path, capsys):
    truth = expert_rows(nih_with_experts / "all_findings_expert_labels", "test_labels.csv")
    ids = [r["Image ID"] for r in truth]
    y = np.array([[r[x.replace("_", " ")] == "YES" for x in LABELS] for r in truth], float)
    probs = fake_probs(y, np.random.default_rng(3))
    extra = nih[1][:5]  # official test images without expert labels: counted, not scored
    extra = [i for i in extra if i not in ids]
    body = [[i, *map(repr, map(float, p))] for i, p in zip(ids, probs, strict=True)]
    body += [[i, *["0.5"] * 14] for i in extra]
    predictions = write_csv(tmp_path / "p.csv", ["Image ID", *LABELS], body)
    argv = [predictions, "--out", tmp_path / "o", "--nih-dir", nih_with_experts]
    code, out, _ = run([*argv, "--labels", "expert_all", "--num-bootstrap", 10], capsys)
    assert code == 0, out
    report = metrics(tmp_path / "o")
    assert report["n_test_images"] == 810
    assert report["input"]["without_labels"] == extra
    for k, label in enumerate(LABELS):
        expected = roc_auc_score(y[:, k], probs[:, k])
        assert report["per_label"][label]["auroc"] == pytest.approx(expected, abs=1e-12)


def test_expert_four_scores_pneumothorax_with_its_validation(nih_with_experts, tmp_path, capsys):
    folder = nih_with_experts / "four_findings_expert_labels"
    test_rows = expert_rows(folder, "test_labels.csv")
    val_rows = expert_rows(folder, "validation_labels.csv")[:300]
    ids = [r["Image Index"] for r in test_rows + val_rows]
    y = np.array([[r["Pneumothorax"] == "YES"] for r in test_rows + val_rows], float)
    probs = fake_probs(y, np.random.default_rng(4))
    body = [[i, repr(float(p[0])), "0.5"] for i, p in zip(ids, probs, strict=True)]
    predictions = write_csv(tmp_path / "p.csv", ["Image Index", "prob_Pneumothorax", "prob_Mass"], body)  # fmt: skip
    argv = [predictions, "--out", tmp_path / "o", "--nih-dir", nih_with_experts]
    code, out, _ = run([*argv, "--labels", "expert_four", "--num-bootstrap", 10], capsys)
    assert code == 0, out
    report = metrics(tmp_path / "o")
    assert report["labels"] == ["Pneumothorax"]
    assert (report["n_test_images"], report["n_val_images"]) == (1962, 300)
    assert report["input"]["labels_not_scored"] == ["Mass"]
    expected = roc_auc_score(y[: len(test_rows), 0], probs[: len(test_rows), 0])
    assert report["per_label"]["Pneumothorax"]["auroc"] == pytest.approx(expected, abs=1e-12)


def test_expert_and_nih_labels_score_the_same_images(nih_with_experts, nih):
    """The recipe `cxr evaluate --labels expert_all` follows: one model, both truths."""
    rows, test, _ = nih
    expert = label_reference.load_reference(nih_with_experts, "expert_all")
    ids = [i for i in test[:3000] if i in expert.labels] + test[:50]  # some lack expert labels
    ids = list(dict.fromkeys(ids))
    probs = np.random.default_rng(5).random((len(ids), len(LABELS)))
    model = Predictions(path="model", image_id=ids, label_names=LABELS, probs=probs)
    keep = [k for k, i in enumerate(ids) if i in expert.labels]
    by_expert, by_nih = score.on_labelled_images(
        model, expert, label_reference.load_reference(nih_with_experts, "nih"), num_bootstrap=5
    )
    assert by_expert["report"]["n_test_images"] == by_nih["report"]["n_test_images"] == len(keep)
    assert len(keep) > 50 and len(ids) - len(keep) > 0  # the others are not expert-labelled
    assert list(by_nih["test"]["image_id"]) == [ids[k] for k in keep]
    y = np.array([[x in rows[ids[k]][1] for x in LABELS] for k in keep], float)
    for j, label in enumerate(LABELS):
        if 0 < y[:, j].sum() < len(y):
            expected = roc_auc_score(y[:, j], probs[keep, j])
            assert by_nih["report"]["per_label"][label]["auroc"] == pytest.approx(expected)
    text = score_report.side_by_side(by_expert, by_nih)
    assert f"AUROC on the same {len(keep)} test images, expert_all labels beside NIH's" in text
    effusion = by_nih["report"]["per_label"]["Effusion"]["auroc"]
    assert any(line.split()[0] == "Effusion" and line.endswith(f"{effusion:.3f}") for line in text.splitlines())  # fmt: skip


def test_expert_four_scores_nodule_or_mass_as_the_max_of_nodule_and_mass(nih_with_experts, tmp_path, capsys):  # fmt: skip
    rows = expert_rows(nih_with_experts / "four_findings_expert_labels", "test_labels.csv")
    ids = [r["Image Index"] for r in rows]
    y = np.array([[r[x] == "YES" for x in ("Pneumothorax", "Nodule or mass")] for r in rows], float)
    rng = np.random.default_rng(6)
    probs = np.concatenate([fake_probs(y[:, :1], rng), rng.random((len(ids), 2))], axis=1)
    header = ["Image Index", "Pneumothorax", "Nodule", "Mass"]
    body = [[i, *map(repr, map(float, p))] for i, p in zip(ids, probs, strict=True)]
    predictions = write_csv(tmp_path / "p.csv", header, body)
    argv = [predictions, "--out", tmp_path / "o", "--nih-dir", nih_with_experts]
    code, out, _ = run([*argv, "--labels", "expert_four", "--num-bootstrap", 10], capsys)
    assert code == 0, out
    report = metrics(tmp_path / "o")
    assert report["labels"] == ["Pneumothorax", "Nodule or mass"]
    expected = roc_auc_score(y[:, 1], np.maximum(probs[:, 1], probs[:, 2]))
    assert report["per_label"]["Nodule or mass"]["auroc"] == pytest.approx(expected, abs=1e-12)
    assert report["input"]["labels_not_scored"] == []
    assert "Majkowska" in report["label_source"]
    assert out.startswith("Scored against Google's radiologist labels, four findings")
    assert "Nodule or mass: scored as the model's max(Nodule, Mass)" in out
    assert "Left out (no NIH label scores them): Fracture, Airspace opacity" in out


def test_score_logs_to_wandb_under_the_label_set(nih_with_experts, monkeypatch, tmp_path, capsys):
    offline_wandb(monkeypatch, tmp_path)
    truth = expert_rows(nih_with_experts / "all_findings_expert_labels", "test_labels.csv")
    ids = [r["Image ID"] for r in truth]
    probs = np.random.default_rng(7).random((len(ids), len(LABELS)))
    body = [[i, *map(repr, map(float, p))] for i, p in zip(ids, probs, strict=True)]
    predictions = write_csv(tmp_path / "p.csv", ["Image ID", *LABELS], body)
    out = tmp_path / "o"
    argv = [predictions, "--out", out, "--nih-dir", nih_with_experts, "--labels", "expert_all"]
    code, text, _ = run([*argv, "--num-bootstrap", 10], capsys)
    assert code == 0, text
    report, summary = metrics(out), wandb_summary(out)
    assert summary["test/expert_all/macro_auroc"] == pytest.approx(report["macro"]["auroc"])
    for label in ("Effusion", "Cardiomegaly"):
        expected = report["per_label"][label]["auroc"]
        assert summary[f"test/expert_all/auroc/{label}"] == pytest.approx(expected)
    assert summary["test/expert_all/per_label.nrows"] == len(LABELS)
    (files,) = out.glob("wandb/offline-run-*/files")
    assert (files / summary["test/expert_all/roc.path"]).is_file()  # the plot, in `out`
