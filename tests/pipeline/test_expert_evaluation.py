"""`cxr evaluate --labels`: a run's saved predictions against Google's radiologist labels.

Runs are made by hand (config and predictions.npz as training saves them); the expected
labels are read from NIH's and Google's CSVs with the csv module, the AUROCs from sklearn.
"""

import csv
import functools
import json
import re

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from cxr.evaluation import readers
from cxr.pipeline import evaluate, expert_evaluation
from cxr.tracking.rundir import EvalDir, RunDir
from cxr_tfds.cxr14_subset import synthetic
from cxr_tfds.labels import LABELS
from tests.helpers.wandb_records import offline_wandb, wandb_summary


def read_csv(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


@functools.cache
def nih_rows(nih_dir) -> dict:
    """{image: (patient id, set of NIH findings)}."""
    return {
        r["Image Index"]: (int(r["Patient ID"]), set(r["Finding Labels"].split("|")))
        for r in read_csv(nih_dir / "Data_Entry_2017_v2020.csv")
    }


def make_run(root, nih_dir, dataset, *, wandb_mode="disabled") -> RunDir:
    """A run as training leaves it: config, eval/predictions.npz of its test split and the
    validation predictions, on the images of NIH's two lists that have a file in `nih_dir`."""
    config = {
        "name": "hand_made",
        "seed": 0,
        "data": {
            "name": dataset,
            "data_dir": str(root / "tfds"),
            "manual_dir": str(nih_dir),
            "test_split": "test",
            "val_split": "validation",
        },
        "eval": {"num_bootstrap": 20},
        "wandb": {"mode": wandb_mode},
    }
    run = RunDir.locate(root, "hand_made", "r1").create(config)
    rows, rng = nih_rows(nih_dir), np.random.default_rng(0)
    files = {p.name for p in nih_dir.glob("images/*.png")}
    for name, folder in (("test_list.txt", run.evaluation()), ("train_val_list.txt", run.evaluation(dataset, "validation"))):  # fmt: skip
        ids = [i for i in (nih_dir / name).read_text().split() if i in files]
        labels = np.array([[x in rows[i][1] for x in LABELS] for i in ids], np.float32)
        probs = np.clip(0.4 * labels + rng.random(labels.shape) * 0.6, 0, 1)
        folder.path.mkdir(parents=True)
        folder.file(EvalDir.PREDICTIONS).write_bytes(
            EvalDir.encode_predictions(
                image_id=ids,
                patient_id=[rows[i][0] for i in ids],
                labels=labels,
                probs=probs,
                label_names=LABELS,
                dataset=dataset,
                split=name,
            )
        )
    return run


def cli(argv, capsys):
    """`cxr evaluate argv`: (exit code, stdout, stderr)."""
    try:
        evaluate.main([str(a) for a in argv])
        code = 0
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def metrics(folder: EvalDir) -> dict:
    return json.loads(folder.file(EvalDir.METRICS).read_text())


@pytest.fixture(scope="module")
def real_nih(sample_dir, tmp_path_factory):
    """The real sample's NIH files and images, with Google's two folders beside them."""
    expert_dir = sample_dir.parent / "google_expert_labels"
    if not (expert_dir / "all_findings_expert_labels").is_dir():
        pytest.skip(f"Google's expert labels not found at {expert_dir}")
    folder = tmp_path_factory.mktemp("nih")
    for path in [*sample_dir.glob("*.*"), sample_dir / "images"]:
        (folder / path.name).symlink_to(path)
    for name in ("all_findings_expert_labels", "four_findings_expert_labels"):
        (folder / name).symlink_to(expert_dir / name)
    return folder


def test_the_real_sample_against_all_findings(real_nih, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CXR14_DIR", raising=False)  # the run's manual dir is the NIH folder
    run = make_run(tmp_path, real_nih, "cxr14_subset/224")
    code, out, err = cli(["--run", run.path, "--labels", "expert_all"], capsys)
    assert code == 0, err
    saved = run.evaluation().read_predictions()
    truth = {r["Image ID"]: r for r in read_csv(real_nih / "all_findings_expert_labels/test_labels.csv")}  # fmt: skip
    keep = [k for k, i in enumerate(saved["image_id"]) if i in truth]
    assert len(keep) == 3  # the sample's images that Google's radiologists relabelled
    ids, probs = saved["image_id"][keep], saved["probs"][keep]
    expert = np.array([[truth[i][x.replace("_", " ")] == "YES" for x in LABELS] for i in ids])
    rows = nih_rows(real_nih)
    nih = np.array([[x in rows[i][1] for x in LABELS] for i in ids])
    by_set = metrics(run.evaluation("cxr14_subset/224", "test expert_all"))
    by_nih = metrics(run.evaluation("cxr14_subset/224", "test expert_all nih"))
    assert by_set["n_test_images"] == by_nih["n_test_images"] == 3
    for report, y in ((by_set, expert), (by_nih, nih)):
        for j, label in enumerate(LABELS):
            entry = report["per_label"][label]
            if 0 < y[:, j].sum() < len(y):
                assert entry["auroc"] == pytest.approx(roc_auc_score(y[:, j], probs[:, j]))
            else:  # undefined on three images, and said so
                assert entry["auroc"] is None and entry["reason"]
                assert re.search(rf"^{label} +n/a \(no", out, re.MULTILINE)
        assert sum(e["auroc"] is None for e in report["per_label"].values()) >= 10
    assert "Nabulsi" in by_set["label_source"] and "NIH" in by_nih["label_source"]
    assert out.count("Published AUROCs: not comparable: 3 of 25,596") == 2
    assert "AUROC on the same 3 test images, expert_all labels beside NIH's" in out
    folder = run.evaluation("cxr14_subset/224", "test expert_all").path
    compared = json.loads((folder / readers.JSON_FILE).read_text())
    assert compared["n_images"] == 3 and compared["readers"] == ["4343880271", "4343882583"]
    assert "Model vs 2 independent readers on 3 images" in out


def test_the_synthetic_twin_against_four_findings_logs_to_wandb(tmp_path, capsys, monkeypatch):
    offline_wandb(monkeypatch, tmp_path)
    nih_dir = tmp_path / "nih"
    synthetic.write_manual_dir(nih_dir, num_patients=80, seed=0, image_size=32)
    run = make_run(tmp_path, nih_dir, "cxr14_subset/synthetic", wandb_mode="None")
    argv = ["--run", run.path, "--labels", "expert_four", "--nih-dir", nih_dir]
    code, out, err = cli(argv, capsys)
    assert code == 0, err
    folder = run.evaluation("cxr14_subset/synthetic", "test expert_four")
    by_set = metrics(folder)
    assert by_set["labels"] == ["Pneumothorax", "Nodule or mass"]
    truth = {r["Image Index"]: r for r in read_csv(nih_dir / "four_findings_expert_labels/test_labels.csv") if r["Nodule or mass"]}  # fmt: skip
    saved = run.evaluation().read_predictions()
    keep = [k for k, i in enumerate(saved["image_id"]) if i in truth]
    y = np.array([truth[saved["image_id"][k]]["Nodule or mass"] == "YES" for k in keep])
    p = saved["probs"][keep][:, [LABELS.index("Nodule"), LABELS.index("Mass")]].max(axis=1)
    assert by_set["n_test_images"] == len(keep) > 20
    assert by_set["per_label"]["Nodule or mass"]["auroc"] == pytest.approx(roc_auc_score(y, p))
    assert by_set["n_val_images"] > 0  # four findings label some train_val images too
    assert "Left out (no NIH label scores them): Fracture, Airspace opacity" in out
    assert "Nodule or mass: scored as the model's max(Nodule, Mass)" in out
    assert not (folder.path / readers.JSON_FILE).exists()  # no reader outside the panels
    by_nih = metrics(run.evaluation("cxr14_subset/synthetic", "test expert_four nih"))
    summary = wandb_summary(folder.path)
    assert summary["test/expert_four/auroc/Nodule or mass"] == pytest.approx(
        by_set["per_label"]["Nodule or mass"]["auroc"]
    )
    assert summary["test/expert_four/nih/macro_auroc"] == pytest.approx(by_nih["macro"]["auroc"])


def test_a_split_without_saved_predictions_is_evaluated_first(real_nih, tmp_path, capsys, monkeypatch):  # fmt: skip
    run = make_run(tmp_path, real_nih, "cxr14_subset/224")
    saved = run.evaluation().file(EvalDir.PREDICTIONS).read_bytes()
    calls = []

    def evaluate_run(*, run, dataset, split, **_):  # writes what `cxr evaluate` would
        calls.append((dataset, split))
        folder = run.evaluation(dataset, split)
        folder.path.mkdir(parents=True)
        folder.file(EvalDir.PREDICTIONS).write_bytes(saved)
        return folder

    monkeypatch.setattr(evaluate, "evaluate_run", evaluate_run)
    argv = ["--run", run.path, "--labels", "expert_all", "--split", "test[:50%]"]
    code, _, err = cli([*argv, "--nih-dir", real_nih], capsys)
    assert code == 0, err
    assert calls == [("cxr14_subset/224", "test[:50%]")]
    assert metrics(run.evaluation("cxr14_subset/224", "test[:50%] expert_all"))["n_test_images"] == 3  # fmt: skip


def test_a_missing_label_folder_says_where_to_put_it(sample_dir, tmp_path, capsys):
    nih_dir = tmp_path / "nih"
    nih_dir.mkdir()
    for path in sample_dir.glob("*.*"):
        (nih_dir / path.name).symlink_to(path)
    run = RunDir.locate(tmp_path, "hand_made", "r1").create(
        {
            "name": "hand_made",
            "data": {"name": "cxr14_subset/224", "test_split": "test", "val_split": "validation"},
        }  # fmt: skip
    )
    code, _, err = cli(["--run", run.path, "--labels", "expert_four", "--nih-dir", nih_dir], capsys)
    assert code == 2 and err.count("\n") == 1
    assert f"needs Google's four_findings_expert_labels/ folder in {nih_dir}: put it there" in err
    assert not (run.path / RunDir.EVALUATIONS).exists()
    code, _, err = cli(["--run", run.path, "--nih-dir", nih_dir], capsys)
    assert code == 2 and "--nih-dir goes with --labels" in err


def test_the_synthetic_twin_finds_its_own_nih_folder(synthetic_builder):
    """Without --nih-dir, the twin's labels come from the folder its build generated."""
    built = synthetic_builder.data_dir_root / "downloads"
    generated = set(built.iterdir())  # each synthetic config built in this session has one
    found = expert_evaluation._nih_dir(synthetic_builder, None)
    assert found in generated and set(built.iterdir()) == generated  # found, not made now
    assert found == synthetic_builder.synthetic_nih_dir(built)
    assert (found / "Data_Entry_2017_v2020.csv").exists()
    assert (found / "four_findings_expert_labels" / "test_labels.csv").exists()


@pytest.fixture(scope="module")
def rsna_nih(sample_dir, tmp_path_factory):
    """The real sample's NIH files and images, with RSNA's folder beside them."""
    rsna_dir = sample_dir.parent / "rsna_pneumonia"
    if not (rsna_dir / "nih_crossref.csv").exists():
        pytest.skip(f"RSNA's files not found at {rsna_dir}")
    folder = tmp_path_factory.mktemp("nih_rsna")
    for path in [*sample_dir.glob("*.*"), sample_dir / "images"]:
        (folder / path.name).symlink_to(path)
    (folder / "rsna_pneumonia").symlink_to(rsna_dir)
    return folder


def test_the_real_sample_against_rsna_beside_nih(rsna_nih, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CXR14_DIR", raising=False)  # the run's manual dir is the NIH folder
    run = make_run(tmp_path, rsna_nih, "cxr14_subset/224")
    code, out, err = cli(["--run", run.path, "--labels", "rsna"], capsys)
    assert code == 0, err
    classes = {}  # the challenge's class of each NIH image, good matches only
    for r in read_csv(rsna_nih / "rsna_pneumonia/nih_crossref.csv"):
        if float(r["mse"]) <= 30:
            classes[r["Image Index"]] = r["class"]
    test_list = set((rsna_nih / "test_list.txt").read_text().split())
    saved = run.evaluation().read_predictions()
    keep = [k for k, i in enumerate(saved["image_id"]) if i in classes]
    ids, probs = saved["image_id"][keep], saved["probs"][keep]
    by_set = metrics(run.evaluation("cxr14_subset/224", "test rsna"))
    by_nih = metrics(run.evaluation("cxr14_subset/224", "test rsna nih"))
    assert by_set["n_test_images"] == by_nih["n_test_images"] == len(ids) == 30
    scored = run.evaluation("cxr14_subset/224", "test rsna").read_predictions()["image_id"]
    assert set(scored) == set(ids) <= test_list  # no train_val image reaches the test scores
    # The sample's opacity images on train_val_list.txt (the RSNA README): validation only.
    assert not {"00000820_000.png", "00003699_000.png", "00011585_000.png"} & set(scored)
    rows = nih_rows(rsna_nih)
    column = {x: probs[:, j] for j, x in enumerate(LABELS)}
    three = ("Pneumonia", "Consolidation", "Infiltration")
    opacity = np.array([classes[i] == "Lung Opacity" for i in ids])
    abnormal = np.array([classes[i] != "Normal" for i in ids])
    expected = {  # row -> (RSNA's truth, NIH's truth on the same images, the model's score)
        **{f"Opacity: {x}": (opacity, [x in rows[i][1] for i in ids], column[x]) for x in three},
        "Opacity: max of 3": (
            opacity,
            [bool(rows[i][1] & set(three)) for i in ids],
            np.max([column[x] for x in three], axis=0),
        ),
        "Abnormal: max of 14": (
            abnormal,
            [rows[i][1] != {"No Finding"} for i in ids],
            probs.max(1),
        ),
    }
    assert by_set["labels"] == by_nih["labels"] == list(expected)
    for name, (y_rsna, y_nih, p) in expected.items():
        for report, y in ((by_set, y_rsna), (by_nih, np.array(y_nih))):
            entry = report["per_label"][name]
            if 0 < y.sum() < len(y):
                assert entry["auroc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
            else:
                assert entry["auroc"] is None and entry["reason"]
    assert "RSNA's radiologists" in by_set["label_source"] and "NIH" in by_nih["label_source"]
    assert "AUROC on the same 30 test images, rsna labels beside NIH's" in out
    assert not (run.evaluation("cxr14_subset/224", "test rsna").path / readers.JSON_FILE).exists()
