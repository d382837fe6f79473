"""Google's radiologist relabels: read from the real files, and built into `cxr14_subset`.

Expected values come from the real CSVs in ../shared/google_expert_labels, read here with the
csv module, independently of `expert_labels`'s parser (its column aliases and value codes).
"""

import csv
import os
import pathlib

import numpy as np
import pytest
import tensorflow_datasets as tfds

from cxr_tfds.cxr14_subset import cxr14_subset_dataset_builder, expert_labels, synthetic
from cxr_tfds.labels import LABELS
from tests.helpers import build_log

CODE = {"YES": 1, "NO": 0, "1": 1, "0": 0, "HEDGE": -1}


@pytest.fixture(scope="module")
def expert_dir(sample_dir) -> pathlib.Path:
    path = pathlib.Path(
        os.environ.get("EXPERT_LABELS_DIR", sample_dir.parent / "google_expert_labels")
    )
    if not (path / "all_findings_expert_labels").is_dir():
        pytest.skip(f"Google's expert labels not found at {path}; set EXPERT_LABELS_DIR")
    return path


def rows(path):
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def test_all_findings_truth_matches_the_csv(expert_dir):
    read = expert_labels.read_set(
        expert_dir / "all_findings_expert_labels", expert_labels.SETS["expert_all"]
    )
    csv_rows = rows(expert_dir / "all_findings_expert_labels" / "test_labels.csv")
    assert len(read.truth) == len(csv_rows) == 810
    for row in csv_rows:
        call = read.truth[row["Image ID"]]
        # Google's `Pleural Thickening` lands on NIH's `Pleural_Thickening`.
        expected = [CODE[row[label.replace("_", " ")]] for label in LABELS]
        assert call.findings.tolist() == expected
        assert call.extra.tolist() == [CODE[row["Abnormal"]], CODE[row["Other"]]]
    pleural = LABELS.index("Pleural_Thickening")
    assert sum(c.findings[pleural] for c in read.truth.values()) == 49  # YES count in the file


def test_all_findings_readers_parse_zero_one_and_yes_no(expert_dir):
    read = expert_labels.read_set(
        expert_dir / "all_findings_expert_labels", expert_labels.SETS["expert_all"]
    )
    csv_rows = rows(expert_dir / "all_findings_expert_labels" / "test_individual_readers.csv")
    assert sum(len(v) for v in read.readers.values()) == len(csv_rows) == 4050
    by_key = {(i, c.reader_id): c for i, calls in read.readers.items() for c in calls}
    for row in csv_rows:
        call = by_key[(row["Image ID"], row["Reader ID"])]
        assert call.extra[0] == CODE[row["Abnormal"]]  # 0/1 in this column, YES/NO elsewhere
        assert call.findings.tolist() == [CODE[row[x.replace("_", " ")]] for x in LABELS]
    assert {r for _, r in by_key} >= set(expert_labels.ALL_GROUND_TRUTH_READERS)


def test_four_findings_truth_and_hedges(expert_dir):
    folder = expert_dir / "four_findings_expert_labels"
    read = expert_labels.read_set(folder, expert_labels.SETS["expert_four"])
    truth_rows = rows(folder / "test_labels.csv") + rows(folder / "validation_labels.csv")
    assert len(read.truth) == len(truth_rows) == 1962 + 2414
    names = ("Fracture", "Pneumothorax", "Airspace opacity", "Nodule or mass")
    for row in truth_rows:
        assert read.truth[row["Image Index"]].findings.tolist() == [CODE[row[n]] for n in names]
    reader_rows = rows(folder / "individual_readers.csv")
    hedges = sum(row[n] == "HEDGE" for row in reader_rows for n in row)
    calls = [c for v in read.readers.values() for c in v]
    assert len(calls) == len(reader_rows)
    assert sum(int((c.findings == expert_labels.HEDGE).sum()) for c in calls) == hedges == 426
    # `Nodule/mass` in the readers' file is the same column as `Nodule or mass`.
    mass = sum(row["Nodule/mass"] == "YES" for row in reader_rows)
    assert sum(int(c.findings[3] == 1) for c in calls) == mass


@pytest.mark.parametrize(
    "cell, message",
    [("MAYBE", r"test_labels.csv:3: column 'Hernia' holds 'MAYBE'"), ("HEDGE", "'HEDGE'")],
)
def test_bad_cell_names_file_line_and_column(tmp_path, cell, message):
    header = "Image ID,Patient ID,Abnormal," + ",".join(LABELS) + ",Other"
    ok = "a.png,1,YES," + ",".join(["NO"] * 14) + ",NO"
    bad = "b.png,2,YES," + ",".join(["NO"] * 7 + [cell] + ["NO"] * 6) + ",NO"
    (tmp_path / "test_labels.csv").write_text(f"{header}\n{ok}\n{bad}\n")
    (tmp_path / "test_individual_readers.csv").write_text("Image ID,Reader ID\n")
    with pytest.raises(ValueError, match=message):
        expert_labels.read_set(tmp_path, expert_labels.SETS["expert_all"])


def test_a_missing_file_says_to_copy_the_folder_whole(tmp_path):
    with pytest.raises(ValueError, match="test_labels.csv is missing; put Google's"):
        expert_labels.read_set(tmp_path, expert_labels.SETS["expert_all"])


def test_synthetic_readers_are_noisy_copies_and_truth_their_majority(tmp_path):
    synthetic.write_manual_dir(tmp_path, num_patients=60, seed=1, image_size=32)
    read = expert_labels.read_all(tmp_path)
    assert set(read) == {"expert_all", "expert_four"}
    all_findings = read["expert_all"]
    assert all_findings.truth
    panel = set(expert_labels.ALL_GROUND_TRUTH_READERS)
    independent = set()
    for image_id, truth in all_findings.truth.items():
        calls = all_findings.readers[image_id]
        assert len(calls) == 5
        votes = sum(c.findings for c in calls if c.reader_id in panel)
        np.testing.assert_array_equal(truth.findings, votes >= 2)
        independent |= {c.reader_id for c in calls} - panel
    assert len(independent) == 2
    agree = np.mean(
        [
            np.mean(c.findings == all_findings.truth[i].findings)
            for i, calls in all_findings.readers.items()
            for c in calls
        ]
    )
    assert 0.8 < agree < 1.0  # copies, with noise
    four = read["expert_four"]
    assert any((c.findings == expert_labels.HEDGE).any() for v in four.readers.values() for c in v)


# --- the dataset --------------------------------------------------------------------------------


def _build(manual_dir, data_dir, config="224"):
    builder = cxr14_subset_dataset_builder.Cxr14Subset(config=config, data_dir=str(data_dir))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir))
    )
    return {
        ex["image_id"].decode(): ex
        for split in builder.info.splits
        for ex in tfds.as_numpy(builder.as_dataset(split=split))
    }


@pytest.fixture(scope="module")
def built_with_experts(sample_dir, expert_dir, tmp_path_factory):
    """The real NIH sample and Google's folders, linked into one manual dir at test time."""
    manual = tmp_path_factory.mktemp("manual")
    for path in sample_dir.iterdir():
        (manual / path.name).symlink_to(path)
    for name in ("all_findings_expert_labels", "four_findings_expert_labels"):
        (manual / name).symlink_to(expert_dir / name)
    with build_log.captured() as records:
        examples = _build(manual, tmp_path_factory.mktemp("tfds"))
    return examples, "\n".join(records)


def test_built_expert_labels_match_the_csvs(built_with_experts, expert_dir):
    examples, _ = built_with_experts
    truth = {
        r["Image ID"]: r
        for r in rows(expert_dir / "all_findings_expert_labels" / "test_labels.csv")
    }
    present = {i for i, ex in examples.items() if ex["expert_all"]["present"]}
    assert present == truth.keys() & examples.keys()
    assert present == {"00001369_000.png", "00009683_000.png", "00022787_000.png"}
    for image_id in present:
        ex = examples[image_id]["expert_all"]
        row = truth[image_id]
        assert ex["labels"].tolist() == [CODE[row[x.replace("_", " ")]] for x in LABELS]
        assert (ex["abnormal"], ex["other"]) == (CODE[row["Abnormal"]], CODE[row["Other"]])
        assert len(ex["readers"]["reader_id"]) == 5
    absent = examples["00000004_000.png"]["expert_all"]
    assert not absent["present"] and absent["labels"].sum() == 0
    assert len(absent["readers"]["reader_id"]) == 0


def test_built_four_findings_cover_test_and_validation(built_with_experts, expert_dir):
    examples, _ = built_with_experts
    folder = expert_dir / "four_findings_expert_labels"
    truth = {r["Image Index"]: r for r in rows(folder / "test_labels.csv")}
    truth |= {r["Image Index"]: r for r in rows(folder / "validation_labels.csv")}
    present = {i for i, ex in examples.items() if ex["expert_four"]["present"]}
    assert present == truth.keys() & examples.keys()
    assert len(present) == 6  # 4 test and 2 validation images, as Google's README says
    names = ("Fracture", "Pneumothorax", "Airspace opacity", "Nodule or mass")
    readers = rows(folder / "individual_readers.csv")
    for image_id in present:
        ex = examples[image_id]["expert_four"]
        assert ex["labels"].tolist() == [CODE[truth[image_id][n]] for n in names]
        mine = [r for r in readers if r["Image ID"] == image_id]
        ids, calls = ex["readers"]["reader_id"].astype(str), ex["readers"]["labels"].tolist()
        got = sorted(zip(ids, calls, strict=True))
        want = [(r["Reader ID"], [CODE[r[n]] for n in (*names[:3], "Nodule/mass")]) for r in mine]
        assert got == sorted(want)


def test_build_log_counts_the_expert_images(built_with_experts):
    _, log = built_with_experts
    assert "expert_all: 3 of the 810 labelled images are in this build" in log
    assert "expert_four: 6 of the 4376 labelled images are in this build" in log


def test_nih_labels_are_unchanged_beside_the_expert_ones(built_with_experts, sample_dir):
    examples, _ = built_with_experts
    nih = {r["Image Index"]: r for r in rows(sample_dir / "Data_Entry_2017_v2020.csv")}
    assert len(examples) == 195
    for image_id, ex in examples.items():
        found = nih[image_id]["Finding Labels"].split("|")
        assert ex["labels"].tolist() == [int(x in found) for x in LABELS]


def test_the_synthetic_twin_builds_with_its_expert_labels(tmp_path):
    manual = tmp_path / "manual"
    synthetic.write_manual_dir(manual, num_patients=30, seed=2, image_size=32)
    examples = _build(manual, tmp_path / "tfds")
    for name, folder, column in (
        ("expert_all", "all_findings_expert_labels", "Image ID"),
        ("expert_four", "four_findings_expert_labels", "Image Index"),
    ):
        files = sorted((manual / folder).glob("*labels.csv"))
        labelled = {r[column] for path in files for r in rows(path)}
        present = {i for i, ex in examples.items() if ex[name]["present"]}
        assert labelled and present == labelled
    for image_id in labelled:  # four findings: 3 readers each, HEDGE kept as -1
        assert len(examples[image_id]["expert_four"]["readers"]["reader_id"]) == 3
