"""RSNA's radiologist labels on NIH images: read from the real files, and built into `cxr14_subset`.

Expected values come from the real CSVs in ../shared/rsna_pneumonia and ../shared/cxr14, read
here with the csv module, independently of `rsna`'s parser.
"""

import collections
import csv
import json
import os
import pathlib

import numpy as np
import pytest
import tensorflow_datasets as tfds

from cxr_tfds import tfds_build
from cxr_tfds.cxr14_subset import cxr14_subset_dataset_builder, rsna, rsna_counts, rsna_features
from cxr_tfds.labels import LABELS
from tests.helpers import build_log

DUPLICATE = "00011723_001.png"  # the NIH image two challenge ids match (README)


@pytest.fixture(scope="module")
def rsna_dir(sample_dir) -> pathlib.Path:
    path = pathlib.Path(os.environ.get("RSNA_DIR", sample_dir.parent / "rsna_pneumonia"))
    if not (path / rsna.CROSSREF_FILE).exists():
        pytest.skip(f"RSNA's files not found at {path}; set RSNA_DIR")
    return path


def rows(path):
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def truth(rsna_dir):
    """{NIH image: (class, [(x, y, w, h), ...])} of the good matches, and the match rows."""
    boxes = collections.defaultdict(list)
    for row in rows(rsna_dir / "stage_2_train_labels.csv"):
        if row["Target"] == "1":
            boxes[row["patientId"]].append(tuple(float(row[k]) for k in "x y width height".split()))
    matches = rows(rsna_dir / "nih_crossref.csv")
    good = [m for m in matches if float(m["mse"]) <= 30]
    images = {m["Image Index"]: (m["class"], sorted(boxes[m["patientId"]])) for m in good}
    return images, matches


@pytest.fixture(scope="module")
def labels(rsna_dir):
    return rsna.read(rsna_dir)


def _boxes(image):
    return sorted(map(tuple, image.boxes.tolist()))


# --- the reader -------------------------------------------------------------------------------


def test_every_good_match_carries_its_class_and_boxes(labels, truth):
    images, _ = truth
    assert labels.by_image.keys() == images.keys()
    for image_id, (cls, boxes) in images.items():
        got = labels.by_image[image_id]
        assert (got.cls, _boxes(got)) == (cls, boxes), image_id
        assert got.boxes.dtype == np.float32 and got.boxes.shape == (len(boxes), 4)


def test_counts_equal_the_files(labels, truth, rsna_dir):
    images, matches = truth
    good = [m for m in matches if float(m["mse"]) <= 30]
    per_class = collections.Counter(cls for cls, _ in images.values())
    assert labels.counts == {
        "label_rows": len(rows(rsna_dir / "stage_2_train_labels.csv")),
        "crossref_rows": len(matches),
        "matches_kept": len(images),
        "non_matches": len(matches) - len(good),
        "duplicate_matches": len(good) - len(images),
        "duplicate_conflicts": 0,
        "unlabelled_matches": 0,
        "images_per_class": {cls: per_class[cls] for cls in rsna.CLASSES},
        "boxes": sum(len(b) for _, b in images.values()),
    }
    # The README's facts: 26,586 good matches of 26,684, one image matched twice.
    assert (len(matches), len(good), labels.counts["non_matches"]) == (26684, 26586, 98)
    assert labels.counts["duplicate_matches"] == 1


def test_the_duplicate_match_is_kept_once(labels, truth):
    _, matches = truth
    twice = [m for m in matches if m["Image Index"] == DUPLICATE]
    assert len(twice) == 2 and len({m["class"] for m in twice}) == 1
    assert labels.by_image[DUPLICATE].cls == twice[0]["class"]
    assert labels.by_image[DUPLICATE].challenge_id == twice[0]["patientId"]  # the first row


def test_edge_boxes_stay_exact_and_four_box_images_keep_four(labels, truth):
    images, _ = truth
    edge = {
        i for i, (_, b) in images.items() if any(x + w == 1024 or y + h == 1024 for x, y, w, h in b)
    }
    assert edge
    for image_id in edge:
        assert _boxes(labels.by_image[image_id]) == images[image_id][1]
    four = [i for i, (_, b) in images.items() if len(b) == 4]
    assert four and all(len(labels.by_image[i].boxes) == 4 for i in four)


def test_find_the_folder_or_the_root(rsna_dir, tmp_path):
    nested = tmp_path / "nested"
    (nested / "rsna_pneumonia").mkdir(parents=True)
    assert rsna.find(nested) == nested / "rsna_pneumonia"
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / rsna.CROSSREF_FILE).symlink_to(rsna_dir / rsna.CROSSREF_FILE)
    assert rsna.find(flat) == flat
    assert rsna.find(tmp_path) is None


LABEL_HEADER = "patientId,x,y,width,height,Target\n"
CROSSREF = "patientId,Image Index,mse,class\na,00000001_000.png,1.0,Lung Opacity\n"


@pytest.mark.parametrize(
    "labels_text, crossref_text, message",
    [
        ("a,1,2,3,4,1\na,900,10,125,10,1\n", CROSSREF, ":3: the box spans x 900..1025"),
        ("a,1,2,0,4,1\n", CROSSREF, ":2: the box has width 0 and height 4"),
        ("a,1,2,3,four,1\n", CROSSREF, ":2: 'four' is not a number"),
        ("a,1,2,3,4,2\n", CROSSREF, ":2: Target '2' is not 0 or 1"),
        ("a,1,2,3,4\n", CROSSREF, ":2: 5 fields, the header has 6"),
        ("a,,,,,0\n", CROSSREF, "nih_crossref.csv:2: class 'Lung Opacity' but Target 0"),
        ("a,1,2,3,4,1\n", CROSSREF.replace("Lung Opacity", "Sick"), ":2: class 'Sick' is not"),
    ],
)
def test_bad_rows_name_the_file_and_line(tmp_path, labels_text, crossref_text, message):
    (tmp_path / rsna.LABELS_FILE).write_text(LABEL_HEADER + labels_text)
    (tmp_path / rsna.CROSSREF_FILE).write_text(crossref_text)
    with pytest.raises(ValueError, match="fix or remove the row") as error:
        rsna.read(tmp_path)
    assert message in str(error.value)


def test_disagreeing_duplicates_are_left_out_and_counted(tmp_path):
    (tmp_path / rsna.LABELS_FILE).write_text(LABEL_HEADER + "a,,,,,0\nb,,,,,0\nc,,,,,0\n")
    (tmp_path / rsna.CROSSREF_FILE).write_text(
        "patientId,Image Index,mse,class\n"
        "a,1.png,1,Normal\nb,1.png,2,No Lung Opacity / Not Normal\nc,2.png,31,Normal\n"
    )
    found = rsna.read(tmp_path)
    assert found.by_image == {}
    assert (found.counts["duplicate_conflicts"], found.counts["non_matches"]) == (1, 1)


def test_a_missing_file_says_which_files_to_copy(tmp_path):
    (tmp_path / rsna.CROSSREF_FILE).write_text(CROSSREF)
    with pytest.raises(ValueError, match=f"{rsna.LABELS_FILE} is missing; put the RSNA files"):
        rsna.read(tmp_path)


# --- the counts on NIH's lists ------------------------------------------------------------------


def test_list_counts_equal_the_readme_and_the_files(rsna_dir, sample_dir, truth):
    images, _ = truth
    found = rsna_counts.counts(sample_dir, rsna_dir)
    test = set((sample_dir / "test_list.txt").read_text().split())
    nih = {
        r["Image Index"]: r["Patient ID"] for r in rows(sample_dir / "Data_Entry_2017_v2020.csv")
    }
    for name, want in (("test", test), ("train_val", set(nih) - test)):
        mine = {i: v for i, v in images.items() if i in want}
        opacity = [i for i, (cls, _) in mine.items() if cls == rsna.OPACITY]
        got = found["official_lists"][name]
        assert got["images"] == len(mine)
        assert got["images_per_class"][rsna.OPACITY] == len(opacity)
        assert got["boxes"] == sum(len(b) for _, b in mine.values())
        assert got["opacity_patients"] == len({nih[i] for i in opacity})
    assert found["patients"] == len({nih[i] for i in images}) == 11410  # README
    # The README's facts: 7,170 good matches on the test list; 2,583 opacity images there with
    # 4,220 boxes from 596 patients; 3,414 opacity images on train_val_list.txt.
    on_test = found["official_lists"]["test"]
    assert (on_test["images"], on_test["boxes"], on_test["opacity_patients"]) == (7170, 4220, 596)
    assert on_test["images_per_class"][rsna.OPACITY] == 2583
    assert found["official_lists"]["train_val"]["images_per_class"][rsna.OPACITY] == 3414
    assert found["splits"]["test"] == on_test
    train, validation = found["splits"]["train"], found["splits"]["validation"]
    assert train["boxes"] + validation["boxes"] == found["official_lists"]["train_val"]["boxes"]


def test_the_counts_command_writes_its_provenance(rsna_dir, tmp_path, capsys):
    """On the builder's made-up dummy_data/ (its rsna_pneumonia/ found in it): seconds."""
    dummy = cxr14_subset_dataset_builder.Cxr14Subset.code_path.parent / "dummy_data"
    out = tmp_path / "counts.json"
    assert rsna_counts.main([str(dummy), "--out", str(out)]) == 0
    written = json.loads(out.read_text())
    assert {"what", "command", "commit", "date", "machine", "counts"} <= written.keys()
    assert json.loads(capsys.readouterr().out) == written
    crossref = rows(dummy / "rsna_pneumonia" / rsna.CROSSREF_FILE)
    on_test = {m["Image Index"] for m in crossref if float(m["mse"]) <= 30} & set(
        (dummy / "test_list.txt").read_text().split()
    )
    assert written["counts"]["official_lists"]["test"]["images"] == len(on_test) == 1
    assert rsna_counts.main([str(tmp_path), "--rsna", str(rsna_dir)]) == 2
    assert "holds no Data_Entry_2017_v2020.csv" in capsys.readouterr().err


# --- the dataset --------------------------------------------------------------------------------

SMALL = cxr14_subset_dataset_builder.Cxr14SubsetConfig(
    name="rsna_test_64", description="The real sample at 64 px, for these tests.", image_size=64
)


def _build(manual_dir, data_dir):
    builder = cxr14_subset_dataset_builder.Cxr14Subset(config=SMALL, data_dir=str(data_dir))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir))
    )
    return {
        ex["image_id"].decode(): dict(ex, split=split)
        for split in builder.info.splits
        for ex in tfds.as_numpy(builder.as_dataset(split=split))
    }


@pytest.fixture(scope="module")
def built(sample_dir, rsna_dir, tmp_path_factory):
    """The real NIH sample with RSNA's folder linked in as `rsna_pneumonia/`, and its build log."""
    manual = tmp_path_factory.mktemp("manual")
    for path in sample_dir.iterdir():
        (manual / path.name).symlink_to(path)
    (manual / "rsna_pneumonia").symlink_to(rsna_dir)
    with build_log.captured() as records:
        examples = _build(manual, tmp_path_factory.mktemp("tfds"))
    return examples, "\n".join(records)


def _class(ex):
    return rsna_features.CLASS_NAMES[ex["rsna"]["class"]]


def test_the_17_opacity_images_carry_exactly_their_csv_boxes(built, truth):
    examples, _ = built
    images, _ = truth
    labelled = {i for i, ex in examples.items() if _class(ex) != "absent"}
    assert labelled == images.keys() & examples.keys() and len(labelled) == 74  # README
    opacity = {i for i in labelled if _class(examples[i]) == rsna.OPACITY}
    assert len(opacity) == 17
    for image_id in labelled:
        cls, boxes = images[image_id]
        ex = examples[image_id]
        assert _class(ex) == cls, image_id
        want = sorted([y / 1024, x / 1024, (y + h) / 1024, (x + w) / 1024] for x, y, w, h in boxes)
        got = sorted(ex["rsna"]["boxes"].tolist())
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-7)  # float32 of px / 1024
    for image_id in examples.keys() - labelled:
        assert len(examples[image_id]["rsna"]["boxes"]) == 0


def test_labels_stay_on_their_official_list(built, sample_dir, truth):
    """A train_val image's RSNA label is in train or validation, never in test."""
    examples, _ = built
    images, _ = truth
    test = set((sample_dir / "test_list.txt").read_text().split())
    for image_id in images.keys() & examples.keys():
        assert (examples[image_id]["split"] == "test") == (image_id in test), image_id
    assert examples["00000820_000.png"]["split"] in ("train", "validation")  # 2 boxes, train_val
    test_boxes = sum(len(ex["rsna"]["boxes"]) for ex in examples.values() if ex["split"] == "test")
    assert test_boxes == sum(len(b) for i, (_, b) in images.items() if i in test & examples.keys())


def test_nih_labels_and_boxes_are_unchanged_beside_rsna(built, sample_dir):
    examples, _ = built
    nih = {r["Image Index"]: r for r in rows(sample_dir / "Data_Entry_2017_v2020.csv")}
    assert len(examples) == 195
    for image_id, ex in examples.items():
        found = nih[image_id]["Finding Labels"].split("|")
        assert ex["labels"].tolist() == [int(x in found) for x in LABELS]
    assert sum(len(ex["bboxes"]["label"]) for ex in examples.values()) == 9  # NIH's own


def test_the_build_log_counts_rsna(built, truth):
    _, log = built
    images, _ = truth
    per_class = collections.Counter(cls for cls, _ in images.values())
    assert (
        f"rsna_pneumonia: {len(images)} matches kept (mse <= 30), 98 non-matches "
        "dropped, 1 duplicate matches kept once, 0 conflicting duplicates dropped; "
        f"Lung Opacity: {per_class['Lung Opacity']}, No Lung Opacity / Not Normal: "
        f"{per_class['No Lung Opacity / Not Normal']}, Normal: {per_class['Normal']}; "
        f"{sum(len(b) for _, b in images.values())} boxes"
    ) in log
    assert "rsna: test: " in log and "rsna: train: " in log


@pytest.mark.parametrize("what", ["edge", "four", "duplicate"])
def test_edge_four_box_and_duplicate_images_encode_exactly(labels, truth, what):
    """Through the dataset's own feature encoding: a box touching the 1024 edge decodes to
    exactly 1.0 (nothing clipped or shifted), 4 boxes stay 4, the duplicate keeps its class."""
    images, _ = truth
    pick = {
        "edge": lambda b: any(x + w == 1024 or y + h == 1024 for x, y, w, h in b),
        "four": lambda b: len(b) == 4,
        "duplicate": None,
    }[what]
    image_id = DUPLICATE if pick is None else next(i for i, (_, b) in images.items() if pick(b))
    feature = rsna_features.features()["rsna"]
    serialized = feature.serialize_example(rsna_features.example(labels, image_id)["rsna"])
    decoded = tfds.as_numpy(feature.deserialize_example(serialized))
    cls, boxes = images[image_id]
    assert rsna_features.CLASS_NAMES[decoded["class"]] == cls
    want = sorted([y / 1024, x / 1024, (y + h) / 1024, (x + w) / 1024] for x, y, w, h in boxes)
    np.testing.assert_allclose(sorted(decoded["boxes"].tolist()), want, rtol=0, atol=1e-7)
    if what == "edge":
        assert decoded["boxes"].max() == 1.0


def test_bad_rsna_files_stop_cxr_data_in_one_line_before_any_folder(sample_dir, tmp_path, capsys):
    manual = tmp_path / "cxr14"
    (manual / "images").mkdir(parents=True)
    for name in ("Data_Entry_2017_v2020.csv", "train_val_list.txt", "test_list.txt"):
        (manual / name).symlink_to(sample_dir / name)
    png = sorted((sample_dir / "images").glob("*.png"))[0]
    (manual / "images" / png.name).symlink_to(png)
    (manual / rsna.LABELS_FILE).write_text(LABEL_HEADER + "a,1,2,3,4,1\na,1000,0,30,10,1\n")
    (manual / rsna.CROSSREF_FILE).write_text(CROSSREF.replace("00000001_000", png.stem))
    data_dir = tmp_path / "tfds"
    with pytest.raises(SystemExit) as exit_:
        tfds_build.main(
            ["cxr14_subset", "--config=224", f"--manual_dir={manual}", f"--data_dir={data_dir}"]
        )
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and len(err.splitlines()) == 1, err
    assert (
        f"its RSNA labels are bad: {manual / rsna.LABELS_FILE}:3: the box spans x 1000..1030" in err
    )
    assert not data_dir.exists()
