"""`cxr_vindr`: the real train.csv.gz counted independently (csv and collections here, not
the builder's parser), reader fusion against hand computations, and builds from real rows
with DICOMs generated here (tests/helpers/vindr_files.py says why they are small)."""

import collections
import csv
import io
import logging
import random

import numpy as np
import pydicom
import pytest
import tensorflow_datasets as tfds

import cxr_tfds.builders  # noqa: F401  (registers cxr_vindr)
from cxr_tfds.cxr_vindr import annotations, fusion, labels, source_dir
from cxr_tfds.labels import LABELS as NIH_LABELS
from tests.helpers import vindr_files

RULES = {"any": lambda n: n >= 1, "majority": lambda n: n >= 2, "all": lambda n: n == 3}


def reader_sets(rows) -> dict:
    """(image_id, class_name) -> the set of rad_ids that marked it, counted here."""
    marked = collections.defaultdict(set)
    for row in rows:
        if row["class_name"] != "No finding":
            marked[row["image_id"], row["class_name"]].add(row["rad_id"])
    return marked


@pytest.fixture(scope="module")
def real_rows():
    return vindr_files.real_rows()


@pytest.fixture(scope="module")
def parsed():
    return annotations.read(vindr_files.REAL_CSV)


# --- the real file ---------------------------------------------------------------------


def test_every_image_has_exactly_three_readers(real_rows, parsed):
    readers = collections.defaultdict(set)
    for row in real_rows:
        readers[row["image_id"]].add(row["rad_id"])
    assert len(readers) == 15_000
    assert {len(r) for r in readers.values()} == {3}
    assert {i: a.readers for i, a in parsed.images.items()} == dict(readers)
    assert parsed.left_out == {}


def test_cardiomegaly_by_any_majority_all(real_rows, parsed):
    marked = reader_sets(real_rows)
    counts = {
        rule: sum(1 for (_, name), r in marked.items() if name == "Cardiomegaly" and ok(len(r)))
        for rule, ok in RULES.items()
    }
    assert counts == {"any": 2300, "majority": 1817, "all": 1297}  # the README's figures
    raw = np.stack([a.raw() for a in parsed.images.values()])
    column = labels.LABEL_NAMES.index("Cardiomegaly")
    for rule, expected in counts.items():
        positive, known = labels.targets(raw, readers=rule)
        assert positive[:, column].sum() == expected
        assert known.all()


def test_every_finding_and_rule_matches_the_file(real_rows, parsed):
    marked = reader_sets(real_rows)
    raw = np.stack([a.raw() for a in parsed.images.values()])
    for rule, ok in RULES.items():
        positive, _ = labels.targets(raw, readers=rule)
        for k, name in enumerate(labels.VINDR_NAMES):
            expected = sum(1 for (_, n), r in marked.items() if n == name and ok(len(r)))
            assert positive[:, k].sum() == expected, (rule, name)
    # The README's tallies of (image, finding) pairs by readers who marked them.
    assert collections.Counter(len(r) for r in marked.values()) == {1: 6540, 2: 3559, 3: 5266}
    assert collections.Counter(raw[raw > 0].tolist()) == {1: 6540, 2: 3559, 3: 5266}


def test_reader_boxes_are_the_files_rows(real_rows, parsed):
    boxes = sum(len(a.boxes) for a in parsed.images.values())
    assert boxes == sum(1 for r in real_rows if r["class_name"] != "No finding")
    no_finding = [a for a in parsed.images.values() if not a.boxes]
    assert len(no_finding) == 10_606  # "No finding" by all 3 readers (the README)


# --- labels ----------------------------------------------------------------------------


def test_targets_of_every_code_by_hand():
    codes = np.arange(-2, 4, dtype=np.int8)  # what the label-space table evaluates
    expected = {
        "any": [0, 0, 0, 1, 1, 1],
        "majority": [0, 0, 0, 0, 1, 1],
        "all": [0, 0, 0, 0, 0, 1],
    }
    for rule, want in expected.items():
        positive, known = labels.targets(codes, readers=rule)
        assert positive.tolist() == want and positive.dtype == np.uint8
        assert known.tolist() == [0, 0, 1, 1, 1, 1]  # a negative code is no reader count
    with pytest.raises(ValueError, match="any, majority, all"):
        labels.targets(codes, readers="two")


def test_label_names_are_nih_names_or_identifiers():
    assert len(labels.LABEL_NAMES) == len(set(labels.LABEL_NAMES)) == 14
    assert set(labels.NIH_NAMES.values()) <= set(NIH_LABELS)
    assert set(labels.MAPPING_REASONS) == set(labels.VINDR_NAMES)
    assert labels.LABEL_NAMES[labels.VINDR_NAMES.index("Pleural effusion")] == "Effusion"
    assert "No finding" not in labels.LABEL_NAMES
    for name in set(labels.LABEL_NAMES) - set(NIH_LABELS):
        assert "/" not in name and " " not in name  # metric keys are val/auroc/<label>


# --- fusion ----------------------------------------------------------------------------


def box(reader, x0, y0, x1, y1, finding=3, line=0):
    return annotations.ReaderBox(finding, reader, x0, y0, x1, y1, line)


def brute_iou(a, b) -> float:
    """IoU of integer boxes by counting unit pixels."""
    grid = np.zeros((2, 40, 40), bool)
    for k, bx in enumerate((a, b)):
        grid[k, int(bx.y_min) : int(bx.y_max), int(bx.x_min) : int(bx.x_max)] = True
    return (grid[0] & grid[1]).sum() / (grid[0] | grid[1]).sum()


def random_box(rng, reader):
    x_min, x_max = sorted(rng.sample(range(40), 2))
    y_min, y_max = sorted(rng.sample(range(40), 2))
    return box(reader, x_min, y_min, x_max, y_max)


def test_iou_against_counted_pixels():
    rng = random.Random(0)
    for _ in range(200):
        a, b = random_box(rng, "R1"), random_box(rng, "R2")
        assert fusion.iou(a, b) == pytest.approx(brute_iou(a, b), abs=1e-12)


def test_two_agreeing_readers_make_one_averaged_box():
    r1, r2 = box("R1", 0, 0, 10, 10), box("R2", 1, 0, 11, 10)  # IoU 90/110 = 0.82
    far = box("R3", 30, 30, 35, 35)  # a lone reader: not a majority
    (fused,) = fusion.fuse([far, r2, r1])
    assert (fused.finding, fused.readers) == (3, 2)
    assert (fused.x_min, fused.y_min, fused.x_max, fused.y_max) == (0.5, 0, 10.5, 10)
    assert len(fusion.fuse([far, r2, r1], min_readers=1)) == 2


def test_below_the_iou_threshold_readers_do_not_agree():
    r1, r2 = box("R1", 0, 0, 10, 10), box("R2", 5, 0, 15, 10)  # IoU 50/150 = 1/3
    assert fusion.fuse([r1, r2]) == []
    assert len(fusion.fuse([r1, r2], iou_threshold=0.3)) == 1


def test_one_readers_two_boxes_never_make_a_majority():
    assert fusion.fuse([box("R1", 0, 0, 10, 10), box("R1", 0, 0, 10, 9)]) == []


def test_findings_fuse_apart_and_order_does_not_matter():
    boxes = [
        box("R1", 0, 0, 10, 10, finding=0),
        box("R2", 0, 0, 10, 10, finding=3),
        box("R3", 0, 1, 10, 10, finding=3),
        box("R1", 0, 0, 10, 10, finding=3),
        box("R2", 20, 20, 30, 30, finding=3),
        box("R3", 21, 20, 30, 30, finding=3),
    ]
    fused = fusion.fuse(boxes)
    assert [(f.finding, f.readers) for f in fused] == [(3, 3), (3, 2)]
    for seed in range(5):
        shuffled = boxes[:]
        random.Random(seed).shuffle(shuffled)
        assert fusion.fuse(shuffled) == fused


# --- bad rows ----------------------------------------------------------------------------

HEADER = "image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max\n"


@pytest.mark.parametrize(
    "row, message",
    [
        ("a,Cardiomegaly,3,R1,10,x,20,20", "line 3: box '10,x,20,20' of 'Cardiomegaly' is not"),
        ("a,Cardiomegaly,3,R1,20,10,20,20", "line 3: empty box"),
        ("a,Cardiomegaly,4,R1,10,10,20,20", "line 3: class_id '4' is not 'Cardiomegaly'"),
        ("a,Rib fracture,15,R1,10,10,20,20", "line 3: class_name 'Rib fracture' is none"),
        ("a,No finding,14,R1,10,10,20,20", "line 3: a 'No finding' row with a box"),
        ("a,Cardiomegaly,3,R1,-1,10,20,20", "line 3: box corner out of range"),
    ],
)
def test_a_bad_row_is_named(tmp_path, row, message):
    path = tmp_path / "train.csv"
    path.write_text(HEADER + "a,No finding,14,R2,,,,\n" + row + "\n")
    with pytest.raises(annotations.AnnotationError, match=message) as error:
        annotations.read(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_another_csv_names_the_columns_it_lacks(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("ImageId, EncodedPixels\n1.2.3,-1\n")
    with pytest.raises(annotations.AnnotationError, match="no column image_id, class_name"):
        annotations.read(path)


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
    capture = io.StringIO()
    handler, absl = logging.StreamHandler(capture), logging.getLogger("absl")
    level = absl.level
    absl.addHandler(handler)
    absl.setLevel(logging.INFO)
    try:
        examples = build(manual["root"], tmp_path_factory.mktemp("tfds"))
    finally:
        absl.removeHandler(handler)
        absl.setLevel(level)
    return examples, capture.getvalue()


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
    marked = reader_sets(read_csv(manual["root"] / "train.csv"))
    train = {i: e for i, e in examples.items() if e["split"] != "test"}
    for image_id, example in train.items():
        expected = [len(marked.get((image_id, name), ())) for name in labels.VINDR_NAMES]
        assert example["raw_labels"].tolist() == expected
        assert example["patient_id"] == example["image_id"]
        assert len(example["readers"]) == 3
        assert example["split"] in ("train", "validation")
    raw = np.stack([e["raw_labels"] for e in train.values()])
    for rule, ok in RULES.items():
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
