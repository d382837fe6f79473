"""`cxr_siim`: the run-length codes, the real train-rle.csv and a build with generated DICOMs.

References independent of the code under test: a brute-force encoder written here and
the competition's decoding loop (`siim_files.loop_decode`: position += offset, fill,
position += length, then reshape and transpose), the real file's counts taken with the csv module, and
masks scaled here by block means (1024 / 64 = 16 x 16 pixels per stored pixel).
"""

import collections
import csv
import gzip

import numpy as np
import pytest

from cxr_tfds.cxr_siim import examples, labels, metadata, rle, source_dir
from tests.helpers import siim_files


def encode(mask: np.ndarray) -> str:
    """The brute-force encoder: walk the column-major pixels, one (offset, length) per run."""
    pairs, position, run_start = [], 0, None
    flat = mask.T.ravel().tolist()
    for index, inside in enumerate([*flat, False]):
        if inside and run_start is None:
            run_start = index
        elif not inside and run_start is not None:
            pairs += [run_start - position, index - run_start]
            position, run_start = index, None
    return " ".join(map(str, pairs))


@pytest.mark.parametrize("seed", range(20))
def test_decode_inverts_the_brute_force_encoder_on_random_masks(seed):
    rng = np.random.default_rng(seed)
    side = int(rng.integers(1, 24))
    mask = rng.random((side, side)) < rng.random()  # densities from empty to full
    mask[0, 0], mask[-1, -1] = rng.random(2) < 0.5  # the first and last pixels either way
    if not mask.any():
        mask[rng.integers(side), rng.integers(side)] = True  # a code has at least one run
    np.testing.assert_array_equal(rle.decode(encode(mask), side), mask)


def test_a_run_walks_down_a_column_first():
    mask = rle.decode("1 3", side=4)  # flat pixels 1..3 of a 4x4 image, column by column
    expected = np.zeros((4, 4), bool)
    expected[1:4, 0] = True  # rows 1-3 of column 0
    np.testing.assert_array_equal(mask, expected)


def test_overlapping_regions_join():
    union = rle.decode_union(["0 6", "4 4"], side=4)  # pixels 0-5 and 4-7 overlap on 4-5
    np.testing.assert_array_equal(union.T.ravel(), np.arange(16) < 8)


@pytest.mark.parametrize(
    "code, reason",
    [
        ("-1", "no pneumothorax"),
        ("5", "1 numbers"),
        ("", "0 numbers"),
        ("3 x", "'x' is not an integer"),
        ("3 2.5", "'2.5' is not an integer"),
        ("-3 2", "negative offset -3"),
        ("3 0", "run of length 0"),
        ("1048570 7", "past the 1024x1024 image"),
        ("1048575 1 1 1", "runs end at pixel 1048578"),
    ],
)
def test_malformed_codes_say_why(code, reason):
    with pytest.raises(rle.MalformedCode, match=reason):
        rle.decode(code)


def test_a_code_may_end_on_the_last_pixel():
    assert rle.decode("1048575 1")[-1, -1]


# ---- the real train-rle.csv.gz ---------------------------------------------------------


@pytest.fixture(scope="module")
def real():
    if not siim_files.REAL_CSV.exists():
        pytest.skip(f"{siim_files.REAL_CSV} not found")
    return metadata.read(siim_files.REAL_CSV)


@pytest.fixture(scope="module")
def real_rows():
    if not siim_files.REAL_CSV.exists():
        pytest.skip(f"{siim_files.REAL_CSV} not found")
    with gzip.open(siim_files.REAL_CSV, "rt") as f:
        return list(csv.reader(f))


def test_real_file_counts_equal_the_csv_modules(real, real_rows):
    header, rows = real_rows[0], real_rows[1:]
    assert header == ["ImageId", " EncodedPixels"]  # the leading space the reader strips
    regions = collections.Counter(r[0] for r in rows if r[1].strip() != "-1")
    images = {r[0] for r in rows}
    assert (len(rows), len(images), len(regions)) == (12_954, 12_047, 2_669)
    several = {i for i, n in regions.items() if n >= 2}
    assert len(several) == 624 and max(regions.values()) == 10
    assert real.rows == len(rows) and set(real.images) == images
    assert {i for i, e in real.images.items() if e.raw_label} == set(regions)
    assert {i for i, e in real.images.items() if len(e.codes) >= 2} == several
    negatives = [r[0] for r in rows if r[1].strip() == "-1"]
    assert real.repeated_negatives == len(negatives) - len(set(negatives))


def test_real_multi_region_masks_are_their_regions_joined(real):
    several = sorted(i for i, e in real.images.items() if len(e.codes) >= 2)[:6]
    for image_id in several:
        codes = real.images[image_id].codes
        union = rle.decode_union(codes)
        np.testing.assert_array_equal(union, siim_files.loop_decode(codes))
        regions = [rle.decode(code) for code in codes]
        assert all(region.sum() > 0 for region in regions)
        assert union.sum() >= max(region.sum() for region in regions)
        assert union.sum() == np.logical_or.reduce(regions).sum()
        for code, region in zip(codes, regions, strict=True):
            assert encode(region) == " ".join(code.split())  # the release's own code back


# ---- reading a train-rle.csv -------------------------------------------------------------


def write_csv(tmp_path, rows, name="train-rle.csv"):
    path = tmp_path / name
    text = "ImageId, EncodedPixels\n" + "".join(f"{a},{b}\n" for a, b in rows)
    path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    return path


def test_repeated_negatives_are_one_image_and_gz_reads(tmp_path):
    rows = [("a", "-1"), ("b", " 5 2"), ("a", "-1"), ("b", "3 1")]
    for name in ("train-rle.csv", "train-rle.csv.gz"):
        read = metadata.read(write_csv(tmp_path, rows, name))
        assert read.rows == 4 and read.repeated_negatives == 1
        assert read.images["a"].codes == () and read.images["a"].raw_label == 0
        assert read.images["b"].codes == ("5 2", "3 1") and read.images["b"].lines == (3, 5)


@pytest.mark.parametrize(
    "rows, message",
    [
        ([("a", "-1"), ("b", "5 x")], r"line 3 \(ImageId b\): malformed run-length code"),
        ([("a", "4 2"), ("a", "-1")], r"line 3 \(ImageId a\): listed with -1 \(line 3\)"),
        ([("a", "-1"), ("a", "4 2")], r"line 3 \(ImageId a\): listed with -1 \(line 2\)"),
    ],
)
def test_a_bad_row_stops_the_build_naming_its_line(tmp_path, rows, message):
    with pytest.raises(metadata.BadMetadata, match=message + ".*stops before writing"):
        metadata.read(write_csv(tmp_path, rows))


def test_another_datasets_csv_is_one_line_saying_what_is_expected(tmp_path):
    (tmp_path / "train.csv").write_text("image_id,class_name\n")
    problem = source_dir.lacks(tmp_path)
    assert "holds no train-rle.csv (it holds train.csv)" in problem
    assert source_dir.EXPECTED_FILES in problem and "\n" not in problem
    path = write_csv(tmp_path, [])
    path.write_text("image_id,class_name\n")
    with pytest.raises(metadata.BadMetadata, match="lacks ImageId and EncodedPixels"):
        metadata.read(path)
    assert "no .dcm file" in source_dir.lacks(tmp_path)
    assert "does not exist" in source_dir.lacks(tmp_path / "nope")


def test_targets_are_elementwise_over_every_code():
    raw = np.arange(-2, 4, dtype=np.int8)[:, None]
    positive, known = labels.targets(raw)
    assert positive[:, 0].tolist() == [0, 0, 0, 1, 0, 0]
    assert known[:, 0].tolist() == [0, 0, 1, 1, 0, 0]
    assert labels.LABEL_NAMES == ("Pneumothorax",) and positive.dtype == np.uint8


def test_masks_keep_pixels_at_least_half_inside():
    mask = np.zeros((1024, 1024), bool)
    mask[:8, :16] = True  # half of the first 16x16 block
    mask[16:23, 16:32] = True  # 7/16 of the next block down-right
    scaled = examples.scale_mask(mask, 64)
    blocks = mask.reshape(64, 16, 64, 16).mean(axis=(1, 3))
    np.testing.assert_array_equal(scaled, np.where(blocks >= 0.5, 255, 0))
    assert scaled[0, 0] == 255 and scaled[1, 1] == 0


# ---- a build from real rows and generated DICOMs ------------------------------------------


def build(root, data_dir, config="64"):
    """Builds `cxr_siim/<config>` from `root`; returns {image_id: example} of every split."""
    import tensorflow_datasets as tfds

    from cxr_tfds.cxr_siim.cxr_siim_dataset_builder import CxrSiim

    builder = CxrSiim(config=config, data_dir=str(data_dir))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=root))
    built = {}
    for split in builder.info.splits:
        for example in tfds.as_numpy(builder.as_dataset(split=split)):
            built[example["image_id"].decode()] = {**example, "split": split}
    return built


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """9 images (3 per split, each kind once), one DICOM missing, one cut short."""
    tmp = tmp_path_factory.mktemp("siim")
    root = siim_files.make_manual_dir(tmp, 9)
    listed = metadata.read(root / "train-rle.csv")
    dicoms = source_dir.find_dicoms(root)
    missing, truncated = sorted(dicoms)[:2]
    dicoms[missing].unlink()
    dicoms[truncated].write_bytes(dicoms[truncated].read_bytes()[:4000])
    return listed, {missing, truncated}, build(root, tmp / "tfds"), root


def test_build_masks_equal_the_csvs_decoded_union(built):
    listed, skipped, examples_, _ = built
    assert set(examples_) == set(listed.images) - skipped  # a counted skip each
    codes = collections.defaultdict(list)
    for image_id, code in siim_files.real_rows():
        if image_id in examples_ and code.strip() != "-1":
            codes[image_id].append(code)
    assert any(len(c) >= 2 for c in codes.values()) and len(codes) < len(examples_)
    for image_id, example in examples_.items():
        truth = siim_files.loop_decode(codes.get(image_id, []))
        blocks = truth.reshape(64, 16, 64, 16).mean(axis=(1, 3)) >= 0.5
        assert example["mask"].shape == (64, 64, 1) and example["image"].shape == (64, 64, 1)
        np.testing.assert_array_equal(example["mask"][..., 0], np.where(blocks, 255, 0))
        assert example["raw_labels"].tolist() == [int(image_id in codes)]
        assert example["regions"] == len(codes.get(image_id, []))
        assert example["patient_id"].decode() == image_id  # SIIM has no patient ids
        assert (example["original_height"], example["original_width"]) == (1024, 1024)
        assert example["split"] == examples.split_of(image_id, 10, 10)


def test_build_stretches_the_dicoms_range_then_averages_areas(built):
    import pydicom

    _, _, examples_, root = built
    for image_id, path in sorted(source_dir.find_dicoms(root).items())[2:4]:  # readable ones
        stored = pydicom.dcmread(path).pixel_array.astype(np.float64)
        # No window in these files: the image's own range maps to 0..255 (cxr.data.dicom).
        gray = (stored - stored.min()) / (stored.max() - stored.min()) * 255
        expected = np.rint(gray.reshape(64, 16, 64, 16).mean(axis=(1, 3)))
        # Pillow's BOX filter sums in float32: a rounding edge may land one level off.
        got = examples_[image_id]["image"][..., 0].astype(np.float64)
        assert np.abs(got - expected).max() <= 1 and np.mean(got == expected) > 0.99


def test_a_flat_folder_builds_and_a_bad_row_writes_nothing(tmp_path):
    root = siim_files.make_manual_dir(tmp_path, 3, layout="flat")
    assert not (root / "dicom-images-train").exists()
    assert len(build(root, tmp_path / "tfds")) == 3
    line = len((root / "train-rle.csv").read_text().splitlines()) + 1
    with open(root / "train-rle.csv", "a") as f:
        f.write(f"{sorted(source_dir.find_dicoms(root))[0]},12 x\n")
    with pytest.raises(metadata.BadMetadata, match=f"line {line} .*'x' is not an integer"):
        build(root, tmp_path / "tfds2")
    assert not list((tmp_path / "tfds2").rglob("*.tfrecord*"))


def test_a_folder_without_siims_files_is_one_line_before_any_write(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "train.csv").write_text("image_id,class_name\n")
    with pytest.raises(FileNotFoundError, match="cxr_siim: .* holds no train-rle.csv"):
        build(tmp_path / "in", tmp_path / "tfds")
    assert not list((tmp_path / "tfds").rglob("*.tfrecord*"))
    from cxr_tfds.cxr_siim.cxr_siim_dataset_builder import CxrSiim

    builder = CxrSiim(config="64", data_dir=str(tmp_path / "fresh"))
    problem = source_dir.preflight(builder, tmp_path / "in")
    assert problem.startswith("cxr_siim/64 is not built: ") and "holds no train-rle.csv" in problem
    assert not (tmp_path / "fresh").exists()  # checked before TFDS makes any folder
