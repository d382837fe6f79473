"""`cxr_vindr` built from real rows with DICOMs generated here (tests/helpers/vindr_files.py
says why they are small): counts against the CSV read with csv here, boxes against the
CSV and the DICOM's own size, counted skips, a wrong folder in one line."""

import collections
import csv

import numpy as np
import pydicom
import pytest
import tensorflow_datasets as tfds

import cxr_tfds.builders  # noqa: F401  (registers cxr_vindr)
from cxr_tfds.cxr_vindr import annotations, labels, source_dir
from tests.helpers import build_log, vindr_files


@pytest.fixture(scope="module")
def real_rows():
    return vindr_files.real_rows()


# --- builds from real rows and generated DICOMs -----------------------------------------

N_TRAIN, N_TEST = 6, 2


def build(manual_dir, data_dir, config="64") -> dict:
    """Builds `config`; returns {image_id: example as numpy, with its split}."""
    builder = tfds.builder(f"cxr_vindr/{config}", data_dir=str(data_dir))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir))
    )
    return {
        ex["image_id"].decode(): dict(ex, split=split)
        for split in builder.info.splits
        for ex in tfds.as_numpy(builder.as_dataset(split=split))
    }


def read_csv(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_csv(path, rows, fieldnames) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module")
def manual(tmp_path_factory, real_rows):
    """Kaggle's layout for 6 real images, one DICOM deleted and one box pushed past its
    image's right edge; plus an official test set (test/ and annotations_test.csv) of 2
    more, with a finding outside the 14 ("Rib fracture")."""
    root = vindr_files.make_manual_dir(tmp_path_factory.mktemp("vindr"), N_TRAIN, N_TEST)
    chosen = vindr_files.choose_images(real_rows, N_TRAIN + N_TEST)
    test_rows = read_csv(root / "annotations_test.csv")
    test_rows.append(test_rows[0] | {"class_name": "Rib fracture", "x_min": "1.0"})
    write_csv(root / "annotations_test.csv", test_rows, list(test_rows[0]))
    train_rows = read_csv(root / "train.csv")
    pushed = next(r for r in train_rows if r["image_id"] == chosen[0] and r["x_max"])
    width = pydicom.dcmread(root / "train" / f"{chosen[0]}.dicom").Columns
    pushed["x_max"] = f"{width + 5}.0"
    write_csv(root / "train.csv", train_rows, list(train_rows[0]))
    (root / "train" / f"{chosen[5]}.dicom").unlink()
    return {"root": root, "chosen": chosen, "missing": chosen[5], "pushed": pushed}


@pytest.fixture(scope="module")
def built(manual, tmp_path_factory):
    with build_log.captured() as lines:
        examples = build(manual["root"], tmp_path_factory.mktemp("tfds"))
    return examples, "\n".join(lines)


def test_a_missing_dicom_and_a_box_outside_are_counted_skips(manual, built):
    examples, log = built
    assert manual["missing"] not in examples
    assert len(examples) == N_TRAIN - 1 + N_TEST
    splits = collections.Counter(e["split"] for e in examples.values())
    assert splits == {"train": N_TRAIN - 2, "validation": 1, "test": N_TEST}
    assert f"skipped 1 train images listed without a DICOM (e.g. {manual['missing']})" in log
    line = read_csv(manual["root"] / "train.csv").index(manual["pushed"]) + 2
    assert f"skipped 1 boxes reaching outside their image (CSV lines {line})" in log
    assert "left out 1 rows of 'Rib fracture'" in log


def test_built_reader_counts_are_the_csvs(manual, built):
    examples, _ = built
    marked = vindr_files.reader_sets(read_csv(manual["root"] / "train.csv"))
    train = {i: e for i, e in examples.items() if e["split"] != "test"}
    for image_id, example in train.items():
        expected = [len(marked.get((image_id, name), ())) for name in labels.VINDR_NAMES]
        assert example["raw_labels"].tolist() == expected
        assert example["patient_id"] == example["image_id"]
        assert len(example["readers"]) == 3
        assert example["split"] in ("train", "validation")
    raw = np.stack([e["raw_labels"] for e in train.values()])
    for rule, ok in vindr_files.RULES.items():
        expected = sum(1 for (i, _), r in marked.items() if i in train and ok(len(r)))
        assert labels.targets(raw, readers=rule)[0].sum() == expected


def test_reader_boxes_are_the_csv_boxes_normalised(manual, built):
    examples, _ = built
    for image_id, example in examples.items():
        split = example["split"]
        folder, csv_name = (
            ("test", "annotations_test.csv") if split == "test" else ("train", "train.csv")
        )
        ds = pydicom.dcmread(manual["root"] / folder / f"{image_id}.dicom")
        assert (example["original_width"], example["original_height"]) == (ds.Columns, ds.Rows)
        size = np.array([ds.Rows, ds.Columns, ds.Rows, ds.Columns])
        rows = [
            r
            for r in read_csv(manual["root"] / csv_name)
            if r["image_id"] == image_id
            and r["class_name"] in labels.VINDR_NAMES
            and float(r["x_max"]) <= ds.Columns
        ]
        want = sorted(
            (
                labels.VINDR_NAMES.index(r["class_name"]),
                *(float(r[c]) for c in ("y_min", "x_min", "y_max", "x_max")),
            )
            for r in rows
        )
        boxes = example["reader_boxes"]
        got = sorted(zip(boxes["label"].tolist(), *(boxes["bbox"] * size).T.tolist(), strict=True))
        np.testing.assert_allclose(
            np.array(got).reshape(-1, 5), np.array(want).reshape(-1, 5), atol=1e-3
        )


def test_fused_boxes_need_a_majority_and_test_boxes_are_the_consensus(built):
    examples, _ = built
    for example in examples.values():
        fused, raw = example["boxes"], example["raw_labels"]
        assert all(raw[label] >= 2 for label in fused["label"])
        if example["split"] == "test":
            assert set(raw.tolist()) <= {0, 3}
            assert example["readers"].tolist() == [annotations.CONSENSUS_READER.encode()]
            assert len(fused["label"]) == len(example["reader_boxes"]["label"])
        else:
            assert all(fused["readers"] >= 2)


def test_monochrome1_and_2_both_show_the_bright_bottom(built):
    examples, _ = built
    for example in examples.values():  # every other image is MONOCHROME1 (vindr_files)
        image = example["image"][..., 0].astype(float)
        assert image.shape == (64, 64)
        assert image[-4:].mean() > image[:4].mean() + 100


def test_another_datasets_folder_is_one_line_and_nothing_is_built(tmp_path):
    siim = tmp_path / "siim"
    siim.mkdir()
    (siim / "train-rle.csv").write_text("ImageId, EncodedPixels\n")
    with pytest.raises(FileNotFoundError) as error:
        build(siim, tmp_path / "tfds")
    message = str(error.value)
    assert f"{siim} holds no train.csv (it holds train-rle.csv)" in message
    assert "expected train.csv" in message and "\n" not in message
    assert not (tmp_path / "tfds" / "cxr_vindr" / "64" / "1.0.0").exists()
    assert source_dir.lacks(tmp_path / "nowhere") == f"{tmp_path / 'nowhere'} does not exist"


def test_preflight_names_what_a_build_lacks_before_any_folder(tmp_path, manual):
    builder = tfds.builder("cxr_vindr/64", data_dir=str(tmp_path / "tfds"))
    problem = source_dir.preflight(builder, tmp_path / "empty")
    assert problem == (
        f"cxr_vindr/64 is not built, and there are no VinDr-CXR files to build from: "
        f"{tmp_path / 'empty'} does not exist; expected {source_dir.EXPECTED_FILES} "
        f"from {source_dir.URL}"
    )
    default = tmp_path / "tfds" / "downloads" / "manual"  # TFDS's default manual dir
    assert f"{default} does not exist" in source_dir.preflight(builder)
    assert source_dir.preflight(builder, manual["root"]) is None
    assert not (tmp_path / "tfds").exists()
