"""`cxr14_subset` on the real NIH files of ../shared/cxr14 (195 images, 9 boxed).

Expected values are read from NIH's own CSVs with the csv module, independently
of the builder's parser.
"""

import csv
import logging

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from cxr.data import datasets, evaluation_batches
from cxr_tfds import LABELS

RGBA = [
    "00000004_000.png",
    "00000100_000.png",
    "00001369_000.png",
    "00002578_000.png",
    "00004934_000.png",
]


@pytest.fixture(scope="module")
def examples(sample_builder):
    out = {}
    for split in sample_builder.info.splits:
        for ex in tfds.as_numpy(sample_builder.as_dataset(split=split)):
            out[ex["image_id"].decode()] = dict(ex, split=split)
    return out


@pytest.fixture(scope="module")
def csv_rows(sample_dir):
    with open(sample_dir / "Data_Entry_2017_v2020.csv", newline="") as f:
        return {row["Image Index"]: row for row in csv.DictReader(f)}


def test_split_sizes(sample_builder):
    splits = sample_builder.info.splits
    assert splits["test"].num_examples == 80
    assert splits["train"].num_examples + splits["validation"].num_examples == 115
    assert splits["validation"].num_examples > 0


def test_test_split_is_the_official_list(examples, sample_dir):
    official = set((sample_dir / "test_list.txt").read_text().split())
    assert {k for k, ex in examples.items() if ex["split"] == "test"} == official & examples.keys()


def test_every_label_vector_equals_its_csv_row(examples, csv_rows):
    assert len(examples) == 195
    for image_id, ex in examples.items():
        findings = csv_rows[image_id]["Finding Labels"].split("|")
        assert ex["labels"].tolist() == [int(name in findings) for name in LABELS], image_id
        assert ex["patient_id"] == int(csv_rows[image_id]["Patient ID"])
        assert ex["age"] == int(csv_rows[image_id]["Patient Age"])


def test_splits_are_patient_disjoint(examples):
    patients = {}
    for ex in examples.values():
        patients.setdefault(ex["patient_id"], set()).add(ex["split"])
    assert all(len(s) == 1 for s in patients.values())
    assert len(patients) == 179


@pytest.mark.parametrize("image_id", RGBA)
def test_rgba_images_decode_to_their_gray_channel(examples, sample_dir, image_id):
    rgba = Image.open(sample_dir / "images" / image_id)
    assert rgba.mode == "RGBA"
    red = Image.fromarray(np.asarray(rgba)[..., 0]).resize((224, 224), Image.Resampling.BOX)
    np.testing.assert_allclose(examples[image_id]["image"][..., 0], np.asarray(red), atol=1)


def test_boxed_images_carry_their_boxes(examples, sample_dir):
    with open(sample_dir / "BBox_List_2017.csv", newline="") as f:
        rows = [row for row in csv.reader(f)][1:]
    boxed = {row[0]: row for row in rows if row[0] in examples}
    assert len(boxed) == 9
    for image_id, row in boxed.items():
        x, y, w, h = (float(v) / 1024 for v in row[2:6])
        ex = examples[image_id]
        np.testing.assert_allclose(ex["bboxes"]["bbox"], [[y, x, y + h, x + w]], atol=1e-6)
        label = {"Infiltrate": "Infiltration"}.get(row[1], row[1])
        assert [LABELS[i] for i in ex["bboxes"]["label"]] == [label]
        assert ex["labels"][LABELS.index(label)] == 1  # the boxed finding is a label too
    unboxed = [ex for k, ex in examples.items() if k not in boxed]
    assert all(len(ex["bboxes"]["label"]) == 0 for ex in unboxed)


def test_pipeline_batches(sample_builder):
    names = datasets.label_names(sample_builder.info)
    assert names == LABELS
    images, labels = next(iter(datasets.batches(sample_builder, "test", batch_size=8)))
    assert images.shape == (8, 224, 224, 3) and labels.shape == (8, 14)
    assert images.dtype == "float32" and labels.dtype == "float32"
    # Raw gray pixels in 3 equal channels: each model normalises them in its first layer.
    x = images.numpy()
    assert 0 <= x.min() and x.max() <= 255 and x.max() > 1
    np.testing.assert_array_equal(x[..., 0], x[..., 2])
    again, _ = next(iter(datasets.batches(sample_builder, "test", batch_size=8)))
    np.testing.assert_array_equal(images.numpy(), again.numpy())  # evaluation order is fixed


def test_bad_files_among_real_ones_are_skipped(sample_dir, tmp_path, caplog):
    """A truncated and an empty copy of real images do not stop the build."""
    manual = tmp_path / "manual"
    (manual / "images").mkdir(parents=True)
    for name in (
        "Data_Entry_2017_v2020.csv",
        "train_val_list.txt",
        "test_list.txt",
        "BBox_List_2017.csv",
    ):
        (manual / name).symlink_to(sample_dir / name)
    real = sorted((sample_dir / "images").glob("*.png"))[:12]
    for path in real:
        (manual / "images" / path.name).symlink_to(path)
    (manual / "images" / real[0].name).unlink()
    (manual / "images" / real[0].name).write_bytes(real[0].read_bytes()[:5000])  # truncated
    (manual / "images" / real[1].name).unlink()
    (manual / "images" / real[1].name).write_bytes(b"")
    with caplog.at_level(logging.WARNING):
        builder = datasets.prepare("cxr14_subset/224", str(tmp_path / "tfds"), str(manual))
    assert sum(s.num_examples for s in builder.info.splits.values()) == 10
    assert f"skipped {real[0].name}: cannot decode PNG" in caplog.text
    assert f"skipped {real[1].name}: empty file" in caplog.text


def test_cxr14_dir_alone_is_enough(sample_dir, tmp_path, monkeypatch):
    """`tfds.load("cxr14_subset/pa_224")` with only $CXR14_DIR set."""
    monkeypatch.setenv("CXR14_DIR", str(sample_dir))
    ds = tfds.load("cxr14_subset/pa_224", split="test", data_dir=str(tmp_path))
    views = {int(ex["view"]) for ex in tfds.as_numpy(ds)}
    assert views == {0}  # PA only
    assert len(ds) == sum(1 for _ in ds) > 0


def test_one_evaluation_pass_holds_images_labels_and_boxes_in_order(sample_builder):
    batches = list(evaluation_batches.batches(sample_builder, "test", 16).as_numpy_iterator())
    images = np.concatenate([b["image"] for b in batches])
    reference = [x for x, _ in datasets.batches(sample_builder, "test", batch_size=16)]
    # The same elementwise TF ops on the same pixels, whatever the batch: equal.
    np.testing.assert_array_equal(images, np.concatenate(reference))
    labels = np.concatenate([b["labels"] for b in batches])
    np.testing.assert_array_equal(labels, datasets.split_labels(sample_builder, "test"))
    ids = np.concatenate([b["image_id"] for b in batches])
    assert len(set(ids)) == 80
    assert sum(int((b["box_labels"] >= 0).sum()) for b in batches) == 9  # NIH's boxes, once

    picked = dict(datasets.decode_selected(sample_builder, "test", [41, 0, 3]))
    assert sorted(picked) == [0, 3, 41]
    for index, gray in picked.items():
        np.testing.assert_array_equal(datasets.model_input(gray[None, ..., None])[0], images[index])
