"""Row 7 of `make bench`: its inputs, made from the real NIH metadata."""

import csv

from cxr.bench import score_rows
from cxr_tfds.cxr14_subset import metadata
from cxr_tfds.labels import LABELS


def test_no_expert_folder_skips_the_row(tmp_path):
    (tmp_path / "cxr14").mkdir()
    assert score_rows.nih_dir_for_bench(tmp_path / "cxr14", tmp_path / "work") is None


def test_the_csv_holds_a_probability_per_label_for_every_official_test_image(sample_dir, tmp_path):
    nih_dir = score_rows.nih_dir_for_bench(sample_dir, tmp_path)
    assert nih_dir is not None, "the real sample has Google's expert folder beside it"
    n = score_rows.write_predictions(nih_dir, tmp_path / "p.csv")
    with open(tmp_path / "p.csv", newline="") as f:
        rows = list(csv.reader(f))
    expected = metadata.read_image_list(sample_dir / metadata.TEST_LIST)
    assert rows[0] == ["Image Index", *LABELS]
    assert [r[0] for r in rows[1:]] == list(expected) and n == len(expected)
    assert all(0 <= float(p) <= 1 for r in rows[1:] for p in r[1:])
