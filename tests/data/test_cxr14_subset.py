"""The builder on hand-made manual dirs: parsing, decoding, boxes and bad input."""

import importlib.util
import io
import logging
import shutil

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

import cxr_tfds.builders  # noqa: F401  (registers cxr14_subset)
from cxr_tfds import LABELS
from cxr_tfds.cxr14_subset import images, metadata, splits
from tests.helpers.paths import DUMMY_DIR


def build(manual_dir, data_dir, config="224"):
    """Builds `config` from `manual_dir`; returns {image_id: example as numpy}."""
    builder = tfds.builder(f"cxr14_subset/{config}", data_dir=str(data_dir))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir))
    )
    examples = {}
    for split in builder.info.splits:
        for ex in tfds.as_numpy(builder.as_dataset(split=split)):
            examples[ex["image_id"].decode()] = dict(ex, split=split)
    return examples


@pytest.fixture(scope="module")
def dummy(tmp_path_factory):
    return build(DUMMY_DIR, tmp_path_factory.mktemp("tfds"))


def png(array) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, "PNG")
    return out.getvalue()


# --- decoding -----------------------------------------------------------------


def test_rgba_decodes_to_its_gray_channel():
    gray = np.random.default_rng(0).integers(0, 256, (20, 30), dtype=np.uint8)
    rgba = np.dstack([gray, gray, gray, np.full_like(gray, 255)])
    np.testing.assert_array_equal(images.to_gray(png(rgba)), gray)


def test_16bit_is_scaled_not_clipped():
    gray = np.arange(256, dtype=np.uint16).reshape(16, 16)
    decoded = images.to_gray(png(gray * 257))
    np.testing.assert_allclose(decoded, gray, atol=1e-3)  # clipping would give all 255


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty"),
        (b"GIF89a....", "not a PNG"),
        (png(np.zeros((8, 8), np.uint8))[:40], "cannot decode"),
    ],
)
def test_unreadable_files_say_why(data, reason):
    with pytest.raises(images.UnreadableImage, match=reason):
        images.resize_png(data, 16)


def test_any_size_is_resized_to_the_config_size():
    out = images.resize_png(png(np.full((40, 48), 100, np.uint8)), 32)
    assert Image.open(io.BytesIO(out)).size == (32, 32)
    assert np.asarray(Image.open(io.BytesIO(out))).mean() == pytest.approx(100, abs=0.5)


# --- metadata -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text, years, implausible",
    [
        ("57", 57, False),
        ("058Y", 58, False),
        ("006M", 0, False),
        ("030M", 2, False),
        ("001D", 0, False),
        ("412Y", 412, True),
    ],
)
def test_ages_in_both_formats(text, years, implausible):
    assert metadata.parse_age(text) == (years, implausible)


def test_both_csv_formats_agree_except_where_nih_revised():
    new = metadata.read_data_entry(DUMMY_DIR / "Data_Entry_2017_v2020.csv")
    old = metadata.read_data_entry(DUMMY_DIR / "Data_Entry_2017.csv")
    assert new.keys() == old.keys()
    differ = sorted(k for k in new if new[k] != old[k])
    assert differ == ["00000003_000.png"]  # the one whose labels the dummy 2017 file changes


def test_unknown_pathology_names_the_row(tmp_path):
    csv = (DUMMY_DIR / "Data_Entry_2017_v2020.csv").read_text().replace("Hernia", "Hernai")
    (tmp_path / "Data_Entry_2017_v2020.csv").write_text(csv)
    with pytest.raises(
        ValueError, match=r"Data_Entry_2017_v2020.csv:\d+: unknown pathology 'Hernai'"
    ):
        metadata.read_data_entry(tmp_path / "Data_Entry_2017_v2020.csv")


def test_conflicting_duplicate_rows_are_an_error(tmp_path):
    lines = (DUMMY_DIR / "Data_Entry_2017_v2020.csv").read_text().splitlines()
    lines.append(lines[-1].replace("PA", "AP"))
    (tmp_path / "d.csv").write_text("\n".join(lines))
    with pytest.raises(ValueError, match="described differently on line"):
        metadata.read_data_entry(tmp_path / "d.csv")


def test_lists_that_share_a_patient_are_refused():
    entries = metadata.read_data_entry(DUMMY_DIR / "Data_Entry_2017_v2020.csv")
    with pytest.raises(AssertionError, match="patient 1 has images in both"):
        splits.plan_splits(
            entries,
            train_val=["00000001_000.png"],
            test=["00000001_001.png"],
            available={"00000001_000.png", "00000001_001.png"},
            validation_percent=0,
        )


# --- the built dataset ----------------------------------------------------------


def test_labels_follow_the_v2020_csv(dummy):
    expected = metadata.read_data_entry(DUMMY_DIR / "Data_Entry_2017_v2020.csv")
    for image_id, ex in dummy.items():
        assert [LABELS[i] for i in np.flatnonzero(ex["labels"])] == list(expected[image_id].labels)
    assert dummy["00000002_000.png"]["labels"].sum() == 0  # No Finding


def test_bad_files_are_skipped_and_the_rest_is_built(dummy):
    for bad in (
        "00000005_001.png",
        "00000006_002.png",
        "00000007_001.png",  # truncated, empty, JPEG
        "00000008_000.png",
        "00000011_000.png",
        "00000010_000.png",
    ):  # no list, no CSV, no file
        assert bad not in dummy
    assert {"00000001_001.png", "00000002_000.png", "00000003_001.png"} <= dummy.keys()


def test_bad_files_are_named_in_the_log(tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        build(DUMMY_DIR, tmp_path)
    log = caplog.text
    assert "skipped 00000005_001.png: cannot decode PNG" in log
    assert "skipped 00000006_002.png: empty file" in log
    assert "skipped 00000007_001.png: not a PNG" in log
    assert "in neither train_val_list.txt nor test_list.txt" in log
    assert "images/s" in log


def test_every_format_decodes_to_the_same_pixels(dummy):
    """The RGBA and 16-bit files hold the same gradient an 8-bit file would."""
    spec = importlib.util.spec_from_file_location(
        "make_dummy_data", DUMMY_DIR / "make_dummy_data.py"
    )
    make_dummy_data = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_dummy_data)
    pixels = make_dummy_data.pixels
    for image_id in ("00000001_001.png", "00000002_000.png"):
        expected = images.to_gray(images.resize_png(png(pixels(image_id[:-4])), 224))
        np.testing.assert_allclose(dummy[image_id]["image"][..., 0], expected, atol=1)


def test_boxes_land_on_their_sign(dummy):
    ex = dummy["00000006_000.png"]  # a Nodule box at x=256, y=512, w=h=128 (1024 frame)
    np.testing.assert_allclose(ex["bboxes"]["bbox"], [[0.5, 0.25, 0.625, 0.375]])
    assert [LABELS[i] for i in ex["bboxes"]["label"]] == ["Nodule"]
    ymin, xmin, ymax, xmax = (ex["bboxes"]["bbox"][0] * 224).astype(int)
    image = ex["image"][..., 0].astype(float)
    assert image[ymin + 2 : ymax - 2, xmin + 2 : xmax - 2].min() >= 250  # the painted square
    assert image[: ymin - 4].mean() < 200
    infiltrate = dummy["00000006_001.png"]["bboxes"]["label"]
    assert [LABELS[i] for i in infiltrate] == ["Infiltration"]  # NIH's `Infiltrate`


def test_metadata_features(dummy):
    ex = dummy["00000004_000.png"]
    assert (ex["patient_id"], ex["follow_up"], ex["age"], ex["age_implausible"]) == (
        4,
        0,
        412,
        True,
    )
    assert ex["split"] == "validation"
    assert dummy["00000002_000.png"]["view"] == 1  # AP
    assert ex["original_width"] == 2500 and ex["pixel_spacing_x"] == pytest.approx(0.143)


# --- missing input --------------------------------------------------------------


def copy_dummy(tmp_path, drop=()):
    manual = tmp_path / "manual"
    shutil.copytree(DUMMY_DIR, manual)
    for name in drop:
        (manual / name).unlink()
    return manual


@pytest.mark.parametrize("missing", ["train_val_list.txt", "test_list.txt"])
def test_missing_list_is_named(tmp_path, missing, monkeypatch):
    monkeypatch.delenv("CXR14_DIR", raising=False)
    manual = copy_dummy(tmp_path, drop=[missing])
    with pytest.raises(FileNotFoundError, match=f"manual dir {manual} exists but lacks {missing}"):
        build(manual, tmp_path / "tfds")


@pytest.mark.parametrize("manual_dir", ["empty", "no_csv"])
def test_no_metadata_says_what_is_expected(tmp_path, manual_dir, monkeypatch):
    monkeypatch.delenv("CXR14_DIR", raising=False)
    if manual_dir == "empty":
        manual = tmp_path / "manual"
        manual.mkdir()
    else:
        manual = copy_dummy(tmp_path, drop=["Data_Entry_2017_v2020.csv", "Data_Entry_2017.csv"])
    with pytest.raises(FileNotFoundError, match="expected Data_Entry_2017_v2020.csv .*nihcc"):
        build(manual, tmp_path / "tfds")


def test_cxr14_dir_is_used_when_the_manual_dir_is_empty(tmp_path, monkeypatch):
    monkeypatch.setenv("CXR14_DIR", str(DUMMY_DIR))
    (tmp_path / "empty").mkdir()
    built = build(tmp_path / "empty", tmp_path / "tfds", config="pa_224")
    assert len(built) == 8


def test_a_subset_with_no_test_image_still_builds(tmp_path, caplog):
    manual = copy_dummy(tmp_path)
    (manual / "test_list.txt").write_text("")
    with caplog.at_level(logging.WARNING):
        built = build(manual, tmp_path / "tfds")
    assert {ex["split"] for ex in built.values()} == {"train", "validation"}
    assert "no image of split 'test' is on disk" in caplog.text


# --- the synthetic config --------------------------------------------------------


def test_synthetic_builds_offline_with_boxes_for_its_signs(synthetic_builder, monkeypatch):
    """No manual dir, no $CXR14_DIR: generated files through the same parser."""
    splits = synthetic_builder.info.splits
    assert {"train", "validation", "test"} <= set(splits) and splits["test"].num_examples > 100
    assert synthetic_builder.info.features["image"].shape == (128, 128, 1)
    boxed = 0
    for ex in tfds.as_numpy(synthetic_builder.as_dataset(split="test")):
        box_labels = set(ex["bboxes"]["label"].tolist())
        assert box_labels == set(np.flatnonzero(ex["labels"]).tolist())  # a box per planted sign
        boxed += bool(box_labels)
        assert ((ex["bboxes"]["bbox"] >= 0) & (ex["bboxes"]["bbox"] <= 1)).all()
    assert boxed > 50
