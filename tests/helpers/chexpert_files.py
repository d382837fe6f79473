"""A CheXpert manual dir for tests: real rows of ../shared's train.csv.gz, generated JPEGs.

The label file is CheXpert's own (../shared/external_metadata/chexpert/train.csv.gz, or
$CHEXPERT_METADATA_DIR); the images are not shipped, so each listed image is generated at
the small release's format: an 8-bit grayscale JPEG, 390 wide and 320 high.
"""

import csv
import gzip
import os
import pathlib

import numpy as np
import pytest
from PIL import Image

from cxr_tfds.cxr_chexpert import splits
from tests.helpers.paths import ROOT

RELEASE = "CheXpert-v1.0-small"
JPEG_SIZE = (390, 320)  # width, height of a typical image of the small release


def train_csv() -> pathlib.Path:
    """The real train.csv.gz; skips the test where it is missing (fails in CI)."""
    folder = os.environ.get("CHEXPERT_METADATA_DIR")
    path = pathlib.Path(folder or ROOT.parent / "shared" / "external_metadata" / "chexpert")
    path = path / "train.csv.gz"
    if not path.exists():
        message = f"CheXpert's train.csv.gz not found at {path}; set CHEXPERT_METADATA_DIR"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def real_rows(n_images: int, exclude=frozenset()) -> tuple[list[str], list[list[str]]]:
    """(header, rows): `n_images` rows of the real file, whole patients in file order, one
    `validation` patient (10 % of them) first so that both splits get images when
    n_images > 1.

    Args:
        n_images: how many rows.
        exclude: patient ids ("patient00001") to leave out.
    """
    by_patient: dict[str, list[list[str]]] = {}
    with gzip.open(train_csv(), "rt", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        for row in reader:
            patient = row[0].split("/")[2]
            if patient not in exclude:
                by_patient.setdefault(patient, []).append(row)
            if len(by_patient) > n_images + 40:  # enough to find a validation patient
                break
    patients = list(by_patient)
    first = [p for p in patients if splits.is_validation_patient(p, 10)][: int(n_images > 1)]
    chosen = [row for p in first + [p for p in patients if p not in first] for row in by_patient[p]]
    return header, chosen[:n_images]


def make_manual_dir(tmp_path, n_images: int, valid_images: int = 0) -> pathlib.Path:
    """A manual dir as CheXpert unpacks: CheXpert-v1.0-small/train.csv with `n_images`
    real rows and a generated JPEG at each row's Path; returns the manual dir.

    Args:
        tmp_path: a folder to write into (the manual dir is tmp_path / "chexpert").
        n_images: rows of train.csv.
        valid_images: when > 0, a valid.csv as well, with that many real rows of other
            patients (CheXpert's valid.csv is not in ../shared; its layout is the same).
    """
    root = pathlib.Path(tmp_path) / "chexpert"
    header, rows = real_rows(n_images)
    _write(root / RELEASE / "train.csv", header, rows, root)
    if valid_images:
        _, valid = real_rows(valid_images, exclude={row[0].split("/")[2] for row in rows})
        _write(root / RELEASE / "valid.csv", header, valid, root)
    return root


def _write(csv_path: pathlib.Path, header: list[str], rows: list[list[str]], root) -> None:
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with csv_path.open("w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    for row in rows:
        write_jpeg(root / row[0], seed=len(row[0]) + sum(map(ord, row[0])))


def write_jpeg(path: pathlib.Path, seed: int = 0) -> pathlib.Path:
    """A chest-like 8-bit grayscale JPEG at the release's size, different per seed."""
    rng = np.random.default_rng(seed)
    width, height = JPEG_SIZE
    y, x = np.mgrid[0:height, 0:width]
    pixels = 120 + 60 * np.cos(x / width * np.pi * rng.uniform(1, 3)) * np.sin(y / height * np.pi)
    pixels = np.clip(pixels + rng.normal(0, 10, pixels.shape), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="JPEG", quality=90)
    return path
