"""RSNA's radiologist labels on NIH images: read from the real files, and built into `cxr14_subset`.

Expected values come from the real CSVs in ../shared/rsna_pneumonia and ../shared/cxr14, read
here with the csv module, independently of `rsna`'s parser.
"""

import collections
import csv
import os
import pathlib

import numpy as np
import pytest

from cxr_tfds.cxr14_subset import rsna

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
