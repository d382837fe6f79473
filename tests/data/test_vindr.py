"""`cxr_vindr`'s parsing, labels and fusion: the real train.csv.gz counted independently
(csv and collections in tests/helpers/vindr_files.py, not the builder's parser), reader
fusion against hand computations and counted pixels, bad rows. Builds: test_vindr_build.py."""

import collections
import random

import numpy as np
import pytest

from cxr_tfds.cxr_vindr import annotations, fusion, labels
from cxr_tfds.labels import LABELS as NIH_LABELS
from tests.helpers import vindr_files


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
    marked = vindr_files.reader_sets(real_rows)
    counts = {
        rule: sum(1 for (_, name), r in marked.items() if name == "Cardiomegaly" and ok(len(r)))
        for rule, ok in vindr_files.RULES.items()
    }
    assert counts == {"any": 2300, "majority": 1817, "all": 1297}  # the README's figures
    raw = np.stack([a.raw() for a in parsed.images.values()])
    column = labels.LABEL_NAMES.index("Cardiomegaly")
    for rule, expected in counts.items():
        positive, known = labels.targets(raw, readers=rule)
        assert positive[:, column].sum() == expected
        assert known.all()


def test_every_finding_and_rule_matches_the_file(real_rows, parsed):
    marked = vindr_files.reader_sets(real_rows)
    raw = np.stack([a.raw() for a in parsed.images.values()])
    for rule, ok in vindr_files.RULES.items():
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


def test_physionets_layout_reads_without_case_and_leaves_other_findings_out(tmp_path):
    path = tmp_path / "annotations_train.csv"
    path.write_text(
        "image_id,rad_ID,class_name,x_min,y_min,x_max,y_max\n"
        "a,R1,pleural EFFUSION,1,2,3,4\n"
        "a,R2,Rib fracture,1,2,3,4\n"
        "a,R3,No finding,,,,\n"
    )
    read = annotations.read(path, strict_classes=False)
    (image,) = read.images.values()
    assert image.readers == {"R1", "R2", "R3"}  # R2 marked none of the 14: negative
    effusion = labels.LABEL_NAMES.index("Effusion")
    assert image.raw().tolist() == [int(k == effusion) for k in range(14)]
    assert read.left_out == {"Rib fracture": 1}
    with pytest.raises(annotations.AnnotationError, match="line 3: class_name 'Rib fracture'"):
        annotations.read(path)
