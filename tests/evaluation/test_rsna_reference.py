"""RSNA's radiologists as a label set: `cxr score --labels rsna` against the real files.

The expected labels are read here with the csv module from RSNA's CSVs (mse <= 30 kept)
and NIH's Data_Entry CSV; the AUROCs come from sklearn.
"""

import csv
import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from cxr.evaluation import label_reference, rsna_reference, score
from cxr.tracking.rundir import EvalDir
from cxr_tfds.labels import LABELS

THREE = ["Pneumonia", "Consolidation", "Infiltration"]


@pytest.fixture(autouse=True)
def no_wandb(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")


@pytest.fixture(scope="module")
def rsna_dir(sample_dir):
    folder = sample_dir.parent / "rsna_pneumonia"
    if not (folder / "nih_crossref.csv").exists():
        pytest.skip(f"RSNA's files not found at {folder}")
    return folder


@pytest.fixture(scope="module")
def nih_dir(sample_dir, rsna_dir, tmp_path_factory):
    """The real NIH files with RSNA's folder beside them, as a user lays them out."""
    folder = tmp_path_factory.mktemp("nih")
    for path in [*sample_dir.glob("*.*"), sample_dir / "images"]:
        (folder / path.name).symlink_to(path)
    (folder / "rsna_pneumonia").symlink_to(rsna_dir)
    return folder


def read_csv(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def truth(sample_dir, rsna_dir):
    """{RSNA-labelled NIH image: (class, set of NIH findings, on the test list)}."""
    classes = {}
    for r in read_csv(rsna_dir / "nih_crossref.csv"):
        if float(r["mse"]) <= 30:
            classes.setdefault(r["Image Index"], r["class"])
    test = set((sample_dir / "test_list.txt").read_text().split())
    return {
        r["Image Index"]: (
            classes[r["Image Index"]],
            set(r["Finding Labels"].split("|")),
            r["Image Index"] in test,
        )  # fmt: skip
        for r in read_csv(sample_dir / "Data_Entry_2017_v2020.csv")
        if r["Image Index"] in classes
    }


def test_the_reference_is_the_files_labels(nih_dir, truth):
    by_rsna, by_nih = label_reference.load_pair(nih_dir, "rsna")
    assert set(by_rsna.labels) == set(truth)  # 26,585 images: 26,586 matches, one twice
    assert len(by_rsna.labels) == 26585
    names = list(rsna_reference.ROWS)
    assert by_rsna.label_names == by_nih.label_names == tuple(names)
    ids = list(truth)
    opacity = np.array([truth[i][0] == "Lung Opacity" for i in ids], float)
    abnormal = np.array([truth[i][0] != "Normal" for i in ids], float)
    got = np.array([by_rsna.labels[i] for i in ids])
    for j, name in enumerate(names):
        assert np.array_equal(got[:, j], abnormal if name.startswith("Abnormal") else opacity)
    on_test = np.array([truth[i][2] for i in ids])
    # The README's opacity images on each list (its 6,012 counts challenge ids, not images).
    assert (int(opacity[on_test].sum()), int(opacity[~on_test].sum())) == (2583, 3414)
    nih = np.array([by_nih.labels[i] for i in ids])
    for j, parts in enumerate([["Pneumonia"], ["Consolidation"], ["Infiltration"], THREE, LABELS]):
        expected = [bool(truth[i][1] & set(parts)) for i in ids]
        assert np.array_equal(nih[:, j], np.array(expected, float))
    # "No Finding" is NIH's only other label: abnormal by NIH is "not No Finding".
    assert np.array_equal(nih[:, 4], np.array([truth[i][1] != {"No Finding"} for i in ids], float))


def test_score_rsna_matches_sklearn_and_keeps_the_train_list_out(nih_dir, truth, tmp_path, capsys):
    rng = np.random.default_rng(0)
    test_ids = [i for i, t in truth.items() if t[2]][:400]
    train_ids = [i for i, t in truth.items() if not t[2]][:150]
    images = test_ids + train_ids
    opacity = np.array([truth[i][0] == "Lung Opacity" for i in images], float)
    probs = np.clip(0.3 * opacity[:, None] + rng.uniform(0, 0.7, (len(images), 14)), 0, 1)
    with open(tmp_path / "p.csv", "w", newline="") as f:
        rows = [[i, *map(repr, map(float, p))] for i, p in zip(images, probs, strict=True)]
        csv.writer(f).writerows([["Image Index", *LABELS], *rows])
    argv = [tmp_path / "p.csv", "--out", tmp_path / "out", "--labels", "rsna"]
    argv += ["--nih-dir", nih_dir, "--num-bootstrap", 20]
    try:
        score.main([str(a) for a in argv])
    except SystemExit as e:
        pytest.fail(f"exit {e.code}: {capsys.readouterr().err}")
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "out" / EvalDir.METRICS).read_text())
    assert report["n_test_images"] == 400 and report["n_val_images"] == 150
    saved = EvalDir(tmp_path / "out").read_predictions()
    assert set(saved["image_id"]) == set(test_ids)  # no train_val image is scored
    y_opacity, y_abnormal = opacity[:400], [truth[i][0] != "Normal" for i in test_ids]
    column = {x: probs[:400, LABELS.index(x)] for x in LABELS}
    expected = {
        **{f"Opacity: {x}": (y_opacity, column[x]) for x in THREE},
        "Opacity: max of 3": (y_opacity, np.max([column[x] for x in THREE], axis=0)),
        "Abnormal: max of 14": (y_abnormal, probs[:400].max(axis=1)),
    }
    assert report["labels"] == list(expected)
    for name, (y, p) in expected.items():
        assert report["per_label"][name]["auroc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert "RSNA's radiologists" in report["label_source"]
    assert "Opacity: Pneumonia: scored as the model's Pneumonia" in out
    assert "Opacity: max of 3: scored as the model's max(Pneumonia, Consolidation, Infiltration)" in out  # fmt: skip


def test_an_nih_folder_without_rsna_files_is_one_line(sample_dir, tmp_path, capsys):
    folder = tmp_path / "nih"
    folder.mkdir()
    for path in sample_dir.glob("*.*"):
        (folder / path.name).symlink_to(path)
    (tmp_path / "p.csv").write_text("Image Index,Pneumonia\n00000001_000.png,0.5\n")
    argv = [tmp_path / "p.csv", "--out", tmp_path / "out", "--labels", "rsna", "--nih-dir", folder]
    with pytest.raises(SystemExit) as e:
        score.main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and err.count("\n") == 0
    assert "needs the RSNA Pneumonia Detection Challenge files" in err and str(folder) in err
    assert not (tmp_path / "out").exists()
