"""A VinDr-CXR manual dir in Kaggle's layout: real `train.csv` rows, generated DICOMs.

    root = make_manual_dir(tmp_path, 6)   # root/train.csv, root/train/<image_id>.dicom

The rows are the real ones of /work/shared/external_metadata/vindr_cxr/train.csv.gz (the
three readers of each image, all their boxes), for a chosen handful of images. The real
images are 2,000-3,000 px 16-bit DICOMs (some 18 MB each); tests would spend seconds per
image decoding them, so each image here is drawn at `SCALE` (a tenth) of a size that holds
every box of its rows (at least 2,048 px, VinDr's smallest), and the CSV's boxes are scaled
by the same factor (outwards to whole pixels, as the real file's are whole): the fraction
of the image each box covers is what it was, and every box stays inside its image.
"""

import collections
import csv
import gzip
import math

import numpy as np

from cxr_tfds.cxr_vindr import splits
from tests.helpers.dicom_files import make_dataset, save
from tests.helpers.paths import ROOT

REAL_CSV = ROOT.parent / "shared" / "external_metadata" / "vindr_cxr" / "train.csv.gz"
SCALE = 0.1
SMALLEST_SIDE = 2048  # px of the smallest VinDr-CXR image side, roughly
CARDIOMEGALY = "Cardiomegaly"
VALIDATION_PERCENT = 10  # the builder configs' share of validation images


# The reader rules, written here apart from cxr_vindr.labels: readers (of 3) -> positive.
RULES = {"any": lambda n: n >= 1, "majority": lambda n: n >= 2, "all": lambda n: n == 3}


def reader_sets(rows: list[dict]) -> dict:
    """(image_id, class_name) -> the set of rad_ids that marked it, counted from the rows."""
    marked = collections.defaultdict(set)
    for row in rows:
        if row["class_name"] != "No finding":
            marked[row["image_id"], row["class_name"]].add(row["rad_id"])
    return marked


def real_rows() -> list[dict]:
    """Every row of the real train.csv.gz, as dicts of strings."""
    with gzip.open(REAL_CSV, "rt", newline="") as f:
        return list(csv.DictReader(f))


def choose_images(rows: list[dict], n_images: int) -> list[str]:
    """`n_images` image ids, in a fixed order: the first (by id) with Cardiomegaly marked by
    1, 2 and 3 readers, the first with "No finding" by all three, the first with a finding
    that `cxr_vindr` puts in `validation`, then the first others by id with a finding."""
    readers = collections.defaultdict(set)
    findings = collections.defaultdict(set)
    for row in rows:
        findings[row["image_id"]].add(row["class_name"])
        if row["class_name"] == CARDIOMEGALY:
            readers[row["image_id"]].add(row["rad_id"])
    ids = sorted(findings)
    abnormal = [i for i in ids if findings[i] != {"No finding"}]
    chosen = [next(i for i in ids if len(readers[i]) == k) for k in (1, 2, 3)]
    chosen.append(next(i for i in ids if findings[i] == {"No finding"}))
    chosen.append(next(i for i in abnormal if splits.is_validation(i, VALIDATION_PERCENT)))
    chosen += [i for i in abnormal if i not in chosen]
    return chosen[:n_images]


def _scaled(row: dict) -> dict:
    if not row["x_min"]:
        return row
    corners = {}
    for key in ("x_min", "y_min"):
        corners[key] = f"{math.floor(float(row[key]) * SCALE):.1f}"
    for key in ("x_max", "y_max"):
        corners[key] = f"{math.ceil(float(row[key]) * SCALE):.1f}"
    return row | corners


def image_size(rows: list[dict]) -> tuple[int, int]:
    """(width, height) of an image drawn for `rows`: a tenth of a size holding their boxes."""
    width = max([SMALLEST_SIDE] + [float(r["x_max"]) for r in rows if r["x_max"]])
    height = max([SMALLEST_SIDE] + [float(r["y_max"]) for r in rows if r["y_max"]])
    return math.ceil(width * SCALE), math.ceil(height * SCALE)


def write_dicom(path, width: int, height: int, seed: int, photometric: str) -> None:
    """A 12-bit DX DICOM of noise on a vertical ramp (bright at the bottom as displayed)."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 3000, height)[:, None] * np.ones((1, width))
    pixels = ramp + rng.integers(0, 1000, (height, width))
    if photometric == "MONOCHROME1":  # low values bright: the same picture, stored inverted
        pixels = 4095 - pixels
    save(make_dataset(pixels.astype(np.uint16), photometric=photometric), path)


def _write_csv(path, rows: list[dict], fieldnames: list[str]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fieldnames, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(_scaled(r) for r in rows)


def make_manual_dir(tmp_path, n_images: int, test_images: int = 0):
    """Writes `tmp_path/vindr/`: train.csv and train/*.dicom for `n_images` real images.

    Every other image is MONOCHROME1, as many of VinDr's are. The first 5 images (with
    `n_images` >= 5) hold Cardiomegaly by 1, 2 and 3 readers, a "No finding" image and an
    image of the `validation` split.

    Args:
        tmp_path: where to write.
        n_images: training images.
        test_images: more real images written as the official test set would be
            (test/*.dicom and annotations_test.csv: PhysioNet's layout, one consensus,
            so no rad_id column; here their training rows stand in for a consensus).

    Returns:
        The manual dir.
    """
    rows = real_rows()
    chosen = choose_images(rows, n_images + test_images)
    root = tmp_path / "vindr"
    parts = {"train": chosen[:n_images], "test": chosen[n_images:]}
    by_image = collections.defaultdict(list)
    for row in rows:
        by_image[row["image_id"]].append(row)
    header = list(rows[0])
    for part, ids in parts.items():
        if not ids:
            continue
        (root / part).mkdir(parents=True)
        kept = [r for i in ids for r in by_image[i]]
        if part == "train":
            _write_csv(root / "train.csv", kept, header)
        else:
            test_header = [c for c in header if c not in ("rad_id", "class_id")]
            _write_csv(root / "annotations_test.csv", kept, test_header)
        for image_id in ids:
            index = chosen.index(image_id)
            width, height = image_size(by_image[image_id])
            photometric = "MONOCHROME1" if index % 2 else "MONOCHROME2"
            write_dicom(root / part / f"{image_id}.dicom", width, height, index, photometric)
    return root
