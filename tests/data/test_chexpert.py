"""cxr_chexpert: the real train.csv.gz's counts and what each policy makes of them, builds
from real rows with generated JPEGs, counted skips and one-line errors (issue 24 §3).

Every expected count is computed here from the real file with the csv module (or is the
count CheXpert's README states), never taken from the code under test.
"""

import collections
import csv
import gzip
import shutil
import subprocess
import sys
import zlib

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

import cxr_tfds.cxr_chexpert.cxr_chexpert_dataset_builder  # noqa: F401  (registers it)
from cxr_tfds.cxr_chexpert import labels, metadata, release
from cxr_tfds.labels import LABELS as NIH_LABELS
from tests.helpers import build_log, chexpert_files
from tests.helpers.paths import ROOT

CODE = {"1.0": 1, "0.0": 0, "-1.0": -1, "": -2}


@pytest.fixture(scope="module")
def real_csv():
    """{column: Counter of its cell values} and the rows, read with csv, not the builder."""
    with gzip.open(chexpert_files.train_csv(), "rt", newline="") as f:
        rows = list(csv.DictReader(f))
    counts = {c: collections.Counter(row[c] for row in rows) for c in labels.CHEXPERT_COLUMNS}
    return counts, rows


@pytest.fixture(scope="module")
def real_rows():
    return metadata.read_rows(chexpert_files.train_csv())


# --- the real file -----------------------------------------------------------------------


def test_cardiomegaly_counts_are_chexperts(real_csv, real_rows):
    counts, rows = real_csv
    assert len(rows) == len(real_rows) == 223_414
    assert counts["Cardiomegaly"] == {"1.0": 27_000, "0.0": 11_116, "-1.0": 8_087, "": 177_211}
    j = labels.CHEXPERT_COLUMNS.index("Cardiomegaly")
    assert collections.Counter(real_rows.raw[:, j].tolist()) == {
        1: 27_000,
        0: 11_116,
        -1: 8_087,
        -2: 177_211,
    }


def test_every_cell_and_attribute_is_read_as_written(real_csv, real_rows):
    counts, rows = real_csv
    for j, column in enumerate(labels.CHEXPERT_COLUMNS):
        read = collections.Counter(real_rows.raw[:, j].tolist())
        assert read == {CODE[value]: n for value, n in counts[column].items()}, column
    assert real_rows.paths == [row["Path"] for row in rows]
    assert len(set(real_rows.patients)) == 64_540
    assert collections.Counter(real_rows.sexes) == {"M": 132_636, "F": 90_777, "": 1}
    assert int(real_rows.frontal.sum()) == 191_027
    assert real_rows.views == [row["AP/PA"] for row in rows]
    assert real_rows.ages.tolist() == [int(row["Age"]) for row in rows]
    assert all(
        s.startswith(p + "/study")
        for p, s in zip(real_rows.patients, real_rows.studies, strict=True)
    )


def _expected(counts, column, uncertain, blank):
    """(positives, knowns) of `column` under a policy, from the independent counts."""
    pos, neg, unc, bla = (counts[column][v] for v in ("1.0", "0.0", "-1.0", ""))
    positives = pos + (unc if uncertain == "u_ones" else 0)
    known = (
        pos + neg + (unc if uncertain != "u_ignore" else 0) + (bla if blank == "negative" else 0)
    )
    return positives, known


@pytest.mark.parametrize("uncertain", ["u_ignore", "u_zeros", "u_ones"])
@pytest.mark.parametrize("blank", ["negative", "unknown"])
def test_each_policy_on_the_real_file(real_csv, real_rows, uncertain, blank):
    counts, _ = real_csv
    y, known = labels.targets(real_rows.raw, uncertain=uncertain, blank=blank)
    assert y.dtype == known.dtype == np.uint8 and y.shape == real_rows.raw.shape
    assert not (y & (1 - known)).any()  # an unknown entry is never a positive
    for j, column in enumerate(labels.CHEXPERT_COLUMNS):
        assert (int(y[:, j].sum()), int(known[:, j].sum())) == _expected(
            counts, column, uncertain, blank
        ), column


def test_cardiomegaly_under_each_policy_by_hand(real_rows):
    j = labels.CHEXPERT_COLUMNS.index("Cardiomegaly")
    cases = {  # (uncertain, blank): (positives, known), from 27,000 / 11,116 / 8,087 / 177,211
        ("u_ignore", "negative"): (27_000, 27_000 + 11_116 + 177_211),
        ("u_zeros", "negative"): (27_000, 223_414),
        ("u_ones", "negative"): (27_000 + 8_087, 223_414),
        ("u_ignore", "unknown"): (27_000, 27_000 + 11_116),
        ("u_ones", "unknown"): (27_000 + 8_087, 27_000 + 11_116 + 8_087),
        ("paper_best", "negative"): (27_000, 223_414),  # Cardiomegaly: U-Zeros (0.840 > 0.832)
    }
    for (uncertain, blank), expected in cases.items():
        y, known = labels.targets(real_rows.raw[:, :], uncertain=uncertain, blank=blank)
        assert (int(y[:, j].sum()), int(known[:, j].sum())) == expected, (uncertain, blank)


def test_paper_best_per_label_on_the_real_file(real_csv, real_rows):
    counts, _ = real_csv
    y, known = labels.targets(real_rows.raw, uncertain="paper_best")
    chosen = {"Atelectasis": "u_ones", "Cardiomegaly": "u_zeros", "Consolidation": "u_zeros"}
    chosen |= {"Edema": "u_ones", "Pleural Effusion": "u_ones"}
    for j, column in enumerate(labels.CHEXPERT_COLUMNS):
        policy = chosen.get(column, "u_ignore")
        assert (int(y[:, j].sum()), int(known[:, j].sum())) == _expected(
            counts, column, policy, "negative"
        ), column


def test_reading_the_file_names_a_bad_cell(tmp_path):
    with gzip.open(chexpert_files.train_csv(), "rt", newline="") as f:
        lines = [next(f) for _ in range(4)]
    lines[3] = lines[3].replace("CheXpert-v1.0-small/train/", "", 1)
    bad_value = lines[:3] + [lines[2].replace(",1.0,", ",2.0,", 1)]
    (tmp_path / "a.csv").write_text("".join(bad_value))
    with pytest.raises(metadata.BadRow, match=r"a.csv row 4: .* is '2.0'"):
        metadata.read_rows(tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text("".join(lines[:3]) + "x/view1_frontal.jpg" + lines[3][-60:])
    with pytest.raises(metadata.BadRow, match="b.csv row 4: Path 'x/view1_frontal.jpg"):
        metadata.read_rows(tmp_path / "b.csv")


# --- labels and policies -----------------------------------------------------------------


def test_targets_on_every_code_by_hand():
    codes = np.array([-2, -1, 0, 1, 2, 3])
    raw = np.repeat(codes[:, None], 14, axis=1)
    expect = {  # code: (label, known) for U-Ignore / U-Zeros / U-Ones, blank negative
        "u_ignore": [(0, 1), (0, 0), (0, 1), (1, 1), (0, 0), (0, 0)],
        "u_zeros": [(0, 1), (0, 1), (0, 1), (1, 1), (0, 0), (0, 0)],
        "u_ones": [(0, 1), (1, 1), (0, 1), (1, 1), (0, 0), (0, 0)],
    }
    for policy, pairs in expect.items():
        y, known = labels.targets(raw, uncertain=policy)
        assert [(y[i, 5], known[i, 5]) for i in range(6)] == pairs, policy
    _, known = labels.targets(raw, blank="unknown")
    assert known[0].tolist() == [0] * 14  # a blank is unknown under blank="unknown"


def test_a_dict_policy_per_label_by_either_name():
    raw = np.full((1, 14), labels.UNCERTAIN)
    y, known = labels.targets(raw, uncertain={"Pleural Effusion": "u_ones", "Edema": "u_zeros"})
    names = dict(
        zip(labels.LABEL_NAMES, zip(y[0].tolist(), known[0].tolist(), strict=True), strict=True)
    )
    assert names["Effusion"] == (1, 1) and names["Edema"] == (0, 1)
    assert names["Cardiomegaly"] == (0, 0)  # left out of the dict: U-Ignore


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"uncertain": "u_twos"}, "uncertainty policy 'u_twos'"),
        ({"blank": "zero"}, "blank policy 'zero'"),
        ({"uncertain": {"Mass": "u_ones"}}, "no CheXpert label 'Mass'"),
    ],
)
def test_a_bad_policy_is_named(policy, message):
    with pytest.raises(ValueError, match=message):
        labels.targets(np.zeros((2, 14), np.int8), **policy)


def test_paper_best_is_the_better_binary_mapping_of_the_papers_table():
    for name, auroc in labels.PAPER_VALIDATION_AUROC.items():
        better = "u_ones" if auroc["u_ones"] > auroc["u_zeros"] else "u_zeros"
        assert labels.PAPER_BEST[name] == better
    assert set(labels.PAPER_BEST) == {
        "Atelectasis",
        "Cardiomegaly",
        "Consolidation",
        "Edema",
        "Effusion",
    }


def test_label_names_are_nihs_where_mapped_and_every_one_has_a_reason():
    assert labels.LABEL_NAMES[labels.CHEXPERT_COLUMNS.index("Pleural Effusion")] == "Effusion"
    shared = set(labels.LABEL_NAMES) & set(NIH_LABELS)
    assert shared == {"Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Effusion"} | {
        "Pneumonia",
        "Pneumothorax",
    }
    assert set(labels.MAPPING_REASONS) == set(labels.LABEL_NAMES)
    assert all(" " not in name for name in labels.LABEL_NAMES)  # names become metric keys


def test_docs_quote_the_papers_table_and_the_choice():
    text = (ROOT / "docs" / "protocols.md").read_text()
    section = text[text.index("## CheXpert's uncertainty policies") :]
    shown = {"u_ignore": "U-Ignore", "u_zeros": "U-Zeros", "u_ones": "U-Ones"}
    for name, auroc in labels.PAPER_VALIDATION_AUROC.items():
        row = next(line for line in section.splitlines() if line.startswith(f"| {name} |"))
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert cells[1:4] == [f"{auroc[p]:.3f}" for p in ("u_ignore", "u_zeros", "u_ones")]
        assert cells[4] == shown[labels.PAPER_BEST[name]]


def test_the_pure_modules_import_no_tensorflow():
    probe = (
        "import sys; import cxr_tfds.cxr_chexpert.labels, cxr_tfds.cxr_chexpert.metadata, "
        "cxr_tfds.cxr_chexpert.release, cxr_tfds.cxr_chexpert.splits; "
        "print([m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'jax')])"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.strip() == "[]", result.stderr[-2000:]


# --- builds from real rows with generated JPEGs ------------------------------------------


def build(manual_dir, data_dir, config="64"):
    """Builds `cxr_chexpert/<config>`: ({image_id: example with its split}, log lines)."""
    builder = tfds.builder(f"cxr_chexpert/{config}", data_dir=str(data_dir))
    with build_log.captured() as lines:
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir))
        )
    examples = {}
    for split in builder.info.splits:
        for ex in tfds.as_numpy(builder.as_dataset(split=split)):
            examples[ex["image_id"].decode()] = dict(ex, split=split)
    return builder, examples, "\n".join(lines)


def _csv_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


MISSING = "CheXpert-v1.0-small/train/patient00003/study1/view1_frontal.jpg"
UNREADABLE = "CheXpert-v1.0-small/train/patient00004/study1/view1_frontal.jpg"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """10 real rows, their JPEGs generated, one deleted and one cut short; no valid.csv."""
    tmp = tmp_path_factory.mktemp("chexpert")
    manual = chexpert_files.make_manual_dir(tmp, 10)
    rows = _csv_rows(manual / "CheXpert-v1.0-small" / "train.csv")
    assert {MISSING, UNREADABLE} <= {row["Path"] for row in rows}
    (manual / MISSING).unlink()
    data = (manual / UNREADABLE).read_bytes()
    (manual / UNREADABLE).write_bytes(data[: len(data) // 2])  # a download cut short
    builder, examples, log = build(manual, tmp / "tfds")
    return manual, rows, builder, examples, log


def test_a_build_holds_each_rows_values(built):
    manual, rows, _, examples, _ = built
    kept = [row for row in rows if row["Path"] not in (MISSING, UNREADABLE)]
    assert sorted(examples) == sorted(row["Path"] for row in kept)
    for row in kept:
        ex = examples[row["Path"]]
        assert ex["raw_labels"].tolist() == [CODE[row[c]] for c in labels.CHEXPERT_COLUMNS]
        patient, study = row["Path"].split("/")[2:4]
        assert (ex["patient_id"].decode(), ex["study"].decode()) == (patient, f"{patient}/{study}")
        assert ex["sex"].decode() == {"Male": "M", "Female": "F"}[row["Sex"]]
        assert (ex["age"], ex["frontal"]) == (int(row["Age"]), row["Frontal/Lateral"] == "Frontal")
        assert ex["view"].decode() == row["AP/PA"]
        jpeg = Image.open(manual / row["Path"])
        assert jpeg.size == chexpert_files.JPEG_SIZE
        resized = np.asarray(jpeg.convert("L").resize((64, 64), Image.Resampling.BOX))
        np.testing.assert_array_equal(ex["image"][..., 0], resized)


def test_splits_are_by_patient_hash(built):
    _, _, _, examples, _ = built
    by_patient = collections.defaultdict(set)
    for ex in examples.values():
        by_patient[ex["patient_id"].decode()].add(ex["split"])
    assert all(len(s) == 1 for s in by_patient.values())
    for patient, (split,) in by_patient.items():
        coin = zlib.crc32(patient.encode()) % 100 < 10
        assert split == ("validation" if coin else "train")
    assert {"train", "validation"} == {ex["split"] for ex in examples.values()}


def test_missing_and_unreadable_images_are_counted_skips(built):
    _, _, _, examples, log = built
    assert MISSING not in examples and UNREADABLE not in examples
    assert f"listed images are not on disk, skipped (e.g. {MISSING}" in log
    assert f"skipped {UNREADABLE}: cannot decode JPEG" in log
    split = examples[next(iter(examples))]["split"]
    done = [line for line in log.splitlines() if "wrote" in line]
    assert sum("1 missing skipped" in line for line in done) == 1
    assert sum("1 unreadable skipped" in line for line in done) == 1
    assert split in {"train", "validation"}


def test_without_valid_csv_there_is_no_test_split_and_the_build_says_so(built):
    _, _, builder, _, log = built
    assert "test" not in builder.info.splits
    assert "no valid.csv in the manual dir" in log
    assert builder.info.metadata["source"]["test"].startswith("no valid.csv")


def test_valid_csv_is_the_test_split(tmp_path):
    manual = chexpert_files.make_manual_dir(tmp_path, 2, valid_images=2)
    valid = _csv_rows(manual / "CheXpert-v1.0-small" / "valid.csv")
    _, examples, _ = build(manual, tmp_path / "tfds")
    assert sorted(k for k, ex in examples.items() if ex["split"] == "test") == sorted(
        row["Path"] for row in valid
    )


@pytest.mark.parametrize(
    ("layout", "clause"),
    [
        ("missing", "{d} does not exist"),
        ("empty", "{d} exists but is empty"),
        ("nih", "{d} holds NIH ChestX-ray14's Data_Entry_2017_v2020.csv, not CheXpert's files"),
        ("vindr", "{d}/train.csv is not CheXpert's train.csv (its columns: image_id, class_name"),
        ("no_csv", "{d} holds no CheXpert-v1.0-small/train.csv"),
    ],
)
def test_a_folder_without_the_release_is_one_line_naming_the_expected_files(
    tmp_path, layout, clause
):
    d = tmp_path / "manual"
    if layout != "missing":
        d.mkdir()
    if layout == "nih":
        (d / "Data_Entry_2017_v2020.csv").write_text("Image Index,Finding Labels\n")
    if layout == "vindr":
        (d / "train.csv").write_text("image_id,class_name,class_id,rad_id,x_min\n")
    if layout == "no_csv":
        (d / "CheXpert-v1.0-small").mkdir()
    builder = tfds.builder("cxr_chexpert/64", data_dir=str(tmp_path / "tfds"))
    problem = release.preflight(builder, str(d))
    assert "\n" not in problem and clause.format(d=d) in problem
    assert release.EXPECTED_FILES in problem
    assert not (tmp_path / "tfds").exists()  # checked before anything is written


def test_the_builder_itself_refuses_another_datasets_folder_in_one_line(tmp_path):
    (tmp_path / "manual").mkdir()
    (tmp_path / "manual" / "train-rle.csv").write_text("ImageId, EncodedPixels\n")
    with pytest.raises(FileNotFoundError) as error:
        build(tmp_path / "manual", tmp_path / "tfds")
    assert "holds SIIM-ACR Pneumothorax's train-rle.csv" in str(error.value)
    assert "\n" not in str(error.value)


def test_a_csv_without_any_of_its_images_is_one_line(tmp_path):
    manual = chexpert_files.make_manual_dir(tmp_path, 2)
    shutil.rmtree(manual / "CheXpert-v1.0-small" / "train")
    with pytest.raises(FileNotFoundError) as error:
        build(manual, tmp_path / "tfds")
    assert "train.csv lists 2 images and none is under" in str(error.value)
    assert "\n" not in str(error.value)
