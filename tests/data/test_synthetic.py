"""The synthetic NIH manual dir: file formats, splits, boxes, determinism, statistics, signs."""

import collections
import csv
import re

import numpy as np
import pytest
from PIL import Image

from cxr_tfds.cxr14_subset import synthetic, synthetic_signs
from cxr_tfds.labels import BBOX_LABEL_ALIASES, LABELS, NO_FINDING

SIZE = 64
DATA_ENTRY = "Data_Entry_2017_v2020.csv"


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    summary = synthetic.write_manual_dir(out, num_patients=40, seed=3, image_size=SIZE)
    return out, summary


def _lines(path):
    return path.read_bytes().decode().split("\n")


def _entries(out):
    return list(csv.reader(_lines(out / DATA_ENTRY)[1:-1]))


def test_data_entry_is_nih_v2020_format(made):
    out, _ = made
    raw = (out / DATA_ENTRY).read_bytes()
    assert b"\r" not in raw and raw.endswith(b"\n") and not raw.endswith(b"\n\n")
    lines = _lines(out / DATA_ENTRY)
    assert lines[0] == (
        "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,"
        "View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]"
    )
    follow_ups = collections.defaultdict(list)
    for row in _entries(out):
        assert len(row) == 11, row
        name, found, follow_up, patient, age, sex, view, width, height, sx, sy = row
        assert re.fullmatch(r"\d{8}_\d{3}\.png", name)
        assert name == f"{int(patient):08d}_{int(follow_up):03d}.png"
        if found != NO_FINDING:
            names = found.split("|")
            assert names == sorted(set(names), key=LABELS.index) and set(names) <= set(LABELS)
        assert 0 <= int(age) <= 95 and sex in "MF" and view in ("PA", "AP")
        assert 1900 <= int(width) <= 3100 and 1900 <= int(height) <= 3100
        assert 0.1 < float(sx) == float(sy) < 0.2
        follow_ups[patient].append((int(follow_up), int(age)))
    for visits in follow_ups.values():
        assert [k for k, _ in visits] == list(range(len(visits)))  # 0..k-1, in order
        assert [a for _, a in visits] == sorted(a for _, a in visits)  # nobody gets younger


def test_lists_split_patients_and_cover_every_image_once(made):
    out, summary = made
    lists = {}
    for name in ("train_val_list.txt", "test_list.txt"):
        raw = (out / name).read_bytes()
        assert not raw.endswith(b"\n") and b"\r" not in raw  # as NIH's
        lists[name] = raw.decode().split("\n")
        assert all(lists[name])
    train, test = lists["train_val_list.txt"], lists["test_list.txt"]
    everything = [row[0] for row in _entries(out)]
    assert sorted(train + test) == sorted(everything) and len(set(everything)) == len(everything)
    assert not {n[:8] for n in train} & {n[:8] for n in test}
    test_patients = len({n[:8] for n in test})
    assert 0.2 <= test_patients / 40 <= 0.25
    assert summary["num_test_images"] == len(test)


def test_every_image_is_an_8_bit_gray_png_of_the_requested_size(made):
    out, summary = made
    names = {row[0] for row in _entries(out)}
    assert {p.name for p in (out / "images").iterdir()} == names
    assert summary["num_images"] == len(names) > 40
    for name in sorted(names):
        with Image.open(out / "images" / name) as image:
            assert (image.format, image.mode, image.size) == ("PNG", "L", (SIZE, SIZE))


def test_bbox_list_has_one_box_per_finding_in_the_1024_frame(made):
    out, summary = made
    lines = _lines(out / "BBox_List_2017.csv")
    assert lines[0] == "Image Index,Finding Label,Bbox [x,y,w,h],,," and lines[-1] == ""
    findings = {row[0]: row[1] for row in _entries(out)}
    boxed = collections.Counter()
    far = 0.0
    for row in csv.reader(lines[1:-1]):
        assert len(row) == 6, row
        name, label = row[:2]
        assert label != "Infiltration"  # NIH spells it Infiltrate in this file
        label = BBOX_LABEL_ALIASES.get(label, label)
        assert label in findings[name].split("|")
        boxed[name, label] += 1
        x, y, w, h = map(float, row[2:])
        assert x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= 1024 and y + h <= 1024
        # Pixels of the SIZE px PNG scaled to NIH's 1024 px frame.
        assert all((v * SIZE / 1024).is_integer() for v in (x, y, w, h))
        far = max(far, x + w, y + h)
    assert far > 1024 * 0.75  # not left in the SIZE px frame
    expected = {(n, x) for n, f in findings.items() if f != NO_FINDING for x in f.split("|")}
    assert set(boxed) == expected and set(boxed.values()) == {1}
    assert summary["num_boxes"] == len(expected)
    positives = collections.Counter(x for _, x in expected)
    assert summary["positives"] == {x: positives[x] for x in LABELS}


def test_same_seed_same_bytes_other_seed_other_files(tmp_path):
    def make(name, seed):
        synthetic.write_manual_dir(tmp_path / name, num_patients=6, seed=seed, image_size=48)
        return tmp_path / name

    a, b, c = make("a", 11), make("b", 11), make("c", 12)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    assert (a / DATA_ENTRY).read_bytes() != (c / DATA_ENTRY).read_bytes()
    first = "images/00000001_000.png"
    assert (a / first).read_bytes() != (c / first).read_bytes()


def _real_frequencies():
    """Per-label image frequency implied by the embedded real statistics."""
    counts = collections.Counter()
    for found, n in synthetic.TOP_FINDING_LABELS:
        for label in found.split("|"):
            counts[label] += n
    for label, n in zip(LABELS, synthetic.RESIDUAL_LABEL_COUNTS, strict=True):
        counts[label] += n
    total = sum(n for _, n in synthetic.TOP_FINDING_LABELS) + synthetic.RESIDUAL_IMAGES
    return {label: n / total for label, n in counts.items()}, total


def test_embedded_statistics_add_up_to_the_nih_totals():
    frequencies, total = _real_frequencies()
    assert total == 112120
    # Per-label image counts of Data_Entry_2017_v2020.csv.
    assert round(frequencies["Infiltration"] * total) == 19894
    assert round(frequencies["Effusion"] * total) == 13317
    assert round(frequencies["Hernia"] * total) == 227
    assert sum(synthetic.RESIDUAL_SET_SIZES.values()) == synthetic.RESIDUAL_IMAGES
    assert sum(synthetic.VIEW_COUNTS.values()) == total
    assert sum(synthetic.SEX_COUNTS.values()) == 30805  # patients


def test_embedded_statistics_match_the_real_csv(sample_dir):
    with open(sample_dir / DATA_ENTRY, newline="") as f:
        rows = list(csv.reader(f))[1:]
    combos = collections.Counter(row[1] for row in rows)
    assert combos.most_common(60) == list(synthetic.TOP_FINDING_LABELS)
    assert collections.Counter(row[6] for row in rows) == synthetic.VIEW_COUNTS
    per_patient = collections.Counter(row[3] for row in rows)
    counts = collections.Counter(min(n, 21) for n in per_patient.values())
    assert tuple(counts[k] for k in range(1, 22)) == synthetic.IMAGES_PER_PATIENT_COUNTS


def test_sampled_metadata_follows_the_real_distributions():
    patients = synthetic.sample_patients(3000, seed=1)
    images = [image for patient in patients for image in patient["images"]]
    assert 3.0 < len(images) / len(patients) < 3.7
    real, _ = _real_frequencies()
    healthy = sum(not image["labels"] for image in images) / len(images)
    assert abs(healthy - 60361 / 112120) < 0.02
    for label in ("Infiltration", "Effusion", "Atelectasis", "Nodule", "Mass", "Pneumothorax"):
        share = sum(label in image["labels"] for image in images) / len(images)
        assert abs(share - real[label]) < 0.15 * real[label], (label, share, real[label])
    ap = sum(image["view"] == "AP" for image in images) / len(images)
    assert abs(ap - 44810 / 112120) < 0.03
    male = sum(patient["sex"] == "M" for patient in patients) / len(patients)
    assert abs(male - 16630 / 30805) < 0.03


def _draw(anatomy, labels):
    """One PA film of a patient; the same film with other findings differs only by its signs."""
    chest = synthetic_signs.Chest(
        SIZE,
        synthetic_signs.chest_anatomy(anatomy, "PA", labels),
        "PA",
        False,
        np.random.default_rng(1),
    )
    sign_rngs = {name: np.random.default_rng([2, k]) for k, name in enumerate(LABELS)}
    return synthetic_signs.render(chest, labels, np.random.default_rng(3), sign_rngs)


@pytest.mark.parametrize("label", LABELS)
def test_each_sign_changes_the_pixels_inside_its_box_only(label):
    for patient in range(2):
        anatomy = synthetic_signs.patient_anatomy(np.random.default_rng([5, patient]))
        (sick, boxes), (healthy, no_boxes) = _draw(anatomy, {label}), _draw(anatomy, set())
        assert no_boxes == [] and [b[0] for b in boxes] == [label]
        x, y, w, h = (int(v) for v in boxes[0][1])
        inside = np.zeros((SIZE, SIZE), bool)
        inside[y : y + h, x : x + w] = True
        diff = sick.astype(np.float32) - healthy
        assert np.abs(diff[inside]).mean() > 3, "the sign is invisible"
        assert np.abs(diff[inside]).mean() > 10 * np.abs(diff[~inside]).mean(), "box misses sign"
        if label in ("Nodule", "Mass", "Consolidation", "Effusion", "Pleural_Thickening"):
            assert diff[inside].mean() > 3  # opacities are brighter
        if label == "Emphysema":
            assert diff[inside].mean() < -3  # hyperlucent


# Where each sign belongs, and the least share of it that must lie there.
PLACES = dict.fromkeys(LABELS, ("lung", 0.7)) | {
    "Cardiomegaly": ("heart", 0.9),
    "Hernia": ("heart", 0.9),  # retrocardiac
    "Effusion": ("lung", 0.5),  # a thin layer lies largely in the anti-aliased lung edge
    "Pleural_Thickening": ("lung", 0.5),  # along the pleura, half outside the aerated lung
}


@pytest.mark.parametrize("label", LABELS)
def test_each_sign_is_drawn_at_its_anatomical_place(label):
    place, share = PLACES[label]
    for patient in range(3):
        anatomy = synthetic_signs.patient_anatomy(np.random.default_rng([6, patient]))
        chest = synthetic_signs.Chest(
            SIZE,
            synthetic_signs.chest_anatomy(anatomy, "PA", {label}),
            "PA",
            True,
            np.random.default_rng(1),
        )
        rngs = np.random.default_rng([7, patient]), np.random.default_rng([8, patient])
        mask = np.asarray(synthetic_signs.SIGNS[label](chest, *rngs), np.float32)
        assert (mask * getattr(chest, place)).sum() >= share * mask.sum() > 0
