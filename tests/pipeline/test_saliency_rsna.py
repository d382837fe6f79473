"""`cxr saliency --boxes rsna`: the saliency study against RSNA's radiologists' opacity boxes,
on the real NIH sample built with RSNA's folder (its 5 opacity images on the test list).

The expected boxes are read here with the csv module from RSNA's CSVs and NIH's lists; the
random baseline's hit rate (each box's share of the image's pixel centres) checks that the
study scored exactly those boxes, and no train-list image.
"""

import contextlib
import csv
import io
import json

import keras
import numpy as np
import pytest

from cxr.data import datasets
from cxr.model import classifier
from cxr.pipeline import saliency_regions, saliency_study
from cxr.tracking.rundir import RunDir, SaliencyDir

pytestmark = pytest.mark.xdist_group("saliency_rsna")
THREE = ("Pneumonia", "Consolidation", "Infiltration")
SIZE = 224  # the registered config with the sample's test images; the tiny backbone is fast


def read_csv(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def nih_dir(sample_dir, tmp_path_factory):
    rsna_dir = sample_dir.parent / "rsna_pneumonia"
    if not (rsna_dir / "nih_crossref.csv").exists():
        pytest.skip(f"RSNA's files not found at {rsna_dir}")
    folder = tmp_path_factory.mktemp("nih_rsna")
    for path in [*sample_dir.glob("*.*"), sample_dir / "images"]:
        (folder / path.name).symlink_to(path)
    (folder / "rsna_pneumonia").symlink_to(rsna_dir)
    return folder


@pytest.fixture(scope="module")
def csv_boxes(nih_dir):
    """{image: [(x, y, w, h) in 1024 px]} of the sample's opacity images, and the lists."""
    ids = {}
    for r in read_csv(nih_dir / "rsna_pneumonia/nih_crossref.csv"):
        if float(r["mse"]) <= 30 and r["class"] == "Lung Opacity":
            ids[r["patientId"]] = r["Image Index"]
    files = {p.name for p in (nih_dir / "images").iterdir()}
    boxes = {}
    for r in read_csv(nih_dir / "rsna_pneumonia/stage_2_train_labels.csv"):
        image = ids.get(r["patientId"])
        if image in files and r["Target"] == "1":
            boxes.setdefault(image, []).append([float(r[k]) for k in ("x", "y", "width", "height")])  # fmt: skip
    test = set((nih_dir / "test_list.txt").read_text().split())
    return boxes, test


@pytest.fixture(scope="module")
def run(nih_dir, tmp_path_factory):
    """A run on the sample built with RSNA's folder (its own TFDS dir), the tiny backbone."""
    run = RunDir(tmp_path_factory.mktemp("runs") / "quick" / "r1")
    data = {
        "name": f"cxr14_subset/{SIZE}",
        "data_dir": str(tmp_path_factory.mktemp("tfds_rsna")),
        "manual_dir": str(nih_dir),
        "batch_size": 8,
        "test_split": "test",
        "val_split": "validation",
    }
    run.create({"name": "quick", "seed": 0, "data": data, "wandb": {"mode": "disabled"}})
    keras.utils.set_random_seed(0)
    classifier.build_model(backbone="tiny", num_labels=14, image_size=SIZE).save(run.model_file)
    return run


def _main(*argv):
    try:
        return saliency_study.main([str(a) for a in argv])
    except SystemExit as e:
        return e.code


@pytest.fixture(scope="module")
def study(run):
    args = ["--run", run.path, "--boxes", "rsna", "--methods", "cam", "gradcam"]
    args += ["--sanity-images", 0, "--gallery-images", 2, "--num-bootstrap", 20]
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert _main(*args) is None
    target = run.saliency(f"cxr14_subset/{SIZE}", "test rsna")
    return target, json.loads(target.file(SaliencyDir.SCORES).read_text()), out.getvalue()


def test_each_test_opacity_box_is_scored_against_each_of_the_three_maps(study, csv_boxes):
    target, saved, out = study
    boxes, test = csv_boxes
    on_test = {k: v for k, v in boxes.items() if k in test}
    n = sum(len(v) for v in on_test.values())
    assert (len(on_test), n) == (5, 6)  # the RSNA README's 5 test images, 1 + 1 + 2 + 1 + 1
    assert saved["images"] == 5 and saved["boxes"] == 3 * n
    for method in ("cam", "gradcam", "centre"):
        hit = saved["scores"][method]["hit"]
        assert {k: v["n"] for k, v in hit["per_label"].items()} == dict.fromkeys(THREE, n)
    # The random map's hit chance is the box's share of pixel centres: the mean over the
    # CSV's test boxes, the same for each of the three labels, so also their label mean.
    centres = (np.arange(SIZE) + 0.5) / SIZE
    shares = []
    for x, y, w, h in (b for v in on_test.values() for b in v):
        rows = ((centres >= y / 1024) & (centres <= (y + h) / 1024)).sum()
        cols = ((centres >= x / 1024) & (centres <= (x + w) / 1024)).sum()
        shares.append(rows * cols / SIZE**2)
    random = saved["scores"]["random"]["hit"]["label_mean"]["value"]
    assert random == pytest.approx(np.mean(shares), rel=1e-9)
    assert saved["comparisons"]["cam - gradcam"]["hit"]["difference"] == pytest.approx(
        saved["scores"]["cam"]["hit"]["label_mean"]["value"]
        - saved["scores"]["gradcam"]["hit"]["label_mean"]["value"]
    )
    # Wang et al.'s protocol runs on CAM's grid, named for the boxes it scores.
    assert "wang60/acc@iobb50" in saved["scores"]["cam"]
    assert saved["notes"]["wang60, wang180"].startswith("Wang et al.'s protocol on RSNA boxes")
    assert saved["box_set"]["name"] == "rsna" and "Pneumonia" in saved["notes"]["boxes"]
    assert "Wang's columns: Wang et al.'s protocol on RSNA boxes" in out
    assert target.path.name == f"cxr14_subset_{SIZE}-test_rsna"


def test_train_list_images_never_reach_the_test_pairs(run, csv_boxes):
    boxes, test = csv_boxes
    builder = datasets.prepare(f"cxr14_subset/{SIZE}", data_dir=run.config()["data"]["data_dir"])
    reference = saliency_regions.REFERENCES["rsna"]
    pairs = {s: reference.pairs(builder, s) for s in builder.info.splits}
    assert {p[4] for p in pairs["test"]} == {k for k in boxes if k in test}
    train_list = {k for k in boxes if k not in test}
    assert len(train_list) == 12  # the README's sample opacity images on train_val_list.txt
    seen = {p[4] for split, found in pairs.items() if split != "test" for p in found}
    assert seen <= train_list  # where they went instead: train or validation
    names = datasets.label_names(builder.info)
    assert {names[p[1]] for p in pairs["test"]} == set(THREE)


def test_a_dataset_without_rsna_boxes_is_one_line(sample_builder, sample_dir, data_dir, tmp_path, capsys):  # fmt: skip
    run = RunDir(tmp_path / "runs" / "quick" / "r1")
    data = {
        "name": "cxr14_subset/224", "data_dir": str(data_dir), "manual_dir": str(sample_dir),
        "batch_size": 4, "test_split": "test", "val_split": "validation",
    }  # fmt: skip
    run.create({"name": "quick", "seed": 0, "data": data, "wandb": {"mode": "disabled"}})
    keras.utils.set_random_seed(0)
    classifier.build_model(backbone="tiny", num_labels=14, image_size=224).save(run.model_file)
    assert _main("--run", run.path, "--boxes", "rsna", "--methods", "gradcam") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "rsna_pneumonia/" in err and "build the dataset again" in err
    assert not (run.path / RunDir.SALIENCY).exists()
