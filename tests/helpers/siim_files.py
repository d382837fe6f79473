"""A SIIM-ACR manual dir made of the release's real rows and generated DICOMs.

    root = make_manual_dir(tmp_path, 6)  # train-rle.csv + dicom-images-train/**/<id>.dcm

The rows are the real `train-rle.csv.gz`'s (in `../shared/external_metadata`), so the
masks a build decodes are the release's; the DICOMs are generated at the release's
format (1024 x 1024, 12-bit MONOCHROME2, SOP Instance UID = ImageId), since the images
are not shipped. Images are picked in the file's order: image k goes to split k mod 3
(train, validation, test: the builder's own rule decides, so the picks are its) and is of
kind (k + k // 3) mod 3 (several regions, one region, no pneumothorax). So 3 images fill
every split, 6 give each split two kinds, 9 every split every kind.
"""

import csv
import gzip
import pathlib

import numpy as np

from cxr_tfds.cxr_siim import examples, rle
from tests.helpers.dicom_files import make_dataset, save
from tests.helpers.paths import ROOT

REAL_CSV = (
    ROOT.parent / "shared" / "external_metadata" / "siim_acr_pneumothorax" / "train-rle.csv.gz"
)
HEADER = ["ImageId", " EncodedPixels"]  # the leading space is the release's
SPLITS = ("train", "validation", "test")
KINDS = ("several regions", "one region", "no pneumothorax")


def real_rows() -> list[list[str]]:
    """The real file's rows (ImageId, EncodedPixels) without its header, as csv reads them."""
    with gzip.open(REAL_CSV, "rt") as f:
        return list(csv.reader(f))[1:]


def pick(rows, n_images: int) -> list[str]:
    """`n_images` image ids of `rows`, cycling through (split, kind) as the docstring says."""
    by_image = {}
    for image_id, code in rows:
        by_image.setdefault(image_id, []).append(code.strip())
    pools = {}
    for image_id, codes in by_image.items():
        kind = KINDS[2] if codes == [rle.NO_MASK] else KINDS[0 if len(codes) > 1 else 1]
        pools.setdefault((examples.split_of(image_id, 10, 10), kind), []).append(image_id)
    taken = {key: iter(pool) for key, pool in pools.items()}
    return [next(taken[SPLITS[k % 3], KINDS[(k + k // 3) % 3]]) for k in range(n_images)]


def loop_decode(codes, side: int = rle.SIDE) -> np.ndarray:
    """The competition's decoding loop (its mask_functions.py), run per region and OR-ed:
    an independent reference for `cxr_tfds.cxr_siim.rle`."""
    flat = np.zeros(side * side, dtype=bool)
    for code in codes:
        numbers = [int(t) for t in code.split()]
        position = 0
        for offset, length in zip(numbers[0::2], numbers[1::2], strict=True):
            position += offset
            flat[position : position + length] = True
            position += length
    return flat.reshape(side, side).T


def make_manual_dir(tmp_path, n_images: int, *, layout: str = "kaggle", seed: int = 0):
    """Writes a SIIM manual dir with `n_images` real rows' images; returns its path.

    Args:
        tmp_path: a folder to write into (pytest's tmp_path).
        n_images: how many images (every row of each is kept: all its regions).
        layout: "kaggle" (dicom-images-train/<study>/<series>/<id>.dcm) or "flat".
        seed: of the generated pixels.
    """
    rows = real_rows()
    chosen = set(pick(rows, n_images))
    root = pathlib.Path(tmp_path) / "siim"
    root.mkdir(parents=True)
    with open(root / "train-rle.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows(row for row in rows if row[0] in chosen)
    rng = np.random.default_rng(seed)
    for image_id in sorted(chosen):
        folder = root if layout == "flat" else root / "dicom-images-train" / image_id / "1"
        folder.mkdir(parents=True, exist_ok=True)
        write_dicom(folder / f"{image_id}.dcm", image_id, rng)
    return root


def write_dicom(path, image_id: str, rng, side: int = rle.SIDE):
    """A 12-bit MONOCHROME2 DICOM of `side` x `side` noise, named as SIIM's are."""
    pixels = rng.integers(0, 4096, size=(side, side), dtype=np.uint16)
    ds = make_dataset(pixels, SOPInstanceUID=image_id)
    return save(ds, path)
