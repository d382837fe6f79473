"""VinDr-CXR's splits: `train` and `validation` from its training set, `test` the official one.

VinDr-CXR's files carry no patient id, so `validation` is drawn by image: CRC32 of the
image id, mod 100, below `validation_percent` (the rule cxr14_subset applies to patient
ids). A patient with two images may land on both sides; the paper does not say whether
any patient has more than one image. The same rule gives the same answer on every
machine and for every subset of the images. `test` is only ever the official test set.

Pure Python.
"""

import dataclasses
import zlib


def is_validation(image_id: str, validation_percent: int) -> bool:
    """Deterministic image-level coin: CRC32 of the id, mod 100."""
    return zlib.crc32(image_id.encode()) % 100 < validation_percent


@dataclasses.dataclass
class Plan:
    """The image ids of each split, and those listed but not on disk."""

    splits: dict  # split -> sorted image ids
    missing: dict  # split -> sorted image ids listed in its CSV without a DICOM


def plan(train_ids, train_on_disk, test_ids=(), test_on_disk=(), validation_percent=10) -> Plan:
    """Assigns each listed image with a DICOM to a split; counts the others as missing.

    Args:
        train_ids: the images of the training CSV.
        train_on_disk: the ids of `train/<id>.dicom` files found.
        test_ids: the images of the official test CSV (empty when there is none).
        test_on_disk: the ids of `test/<id>.dicom` files found.
        validation_percent: share of the training images put in `validation`.
    """
    train_found = sorted(set(train_ids) & set(train_on_disk))
    splits = {
        "train": [i for i in train_found if not is_validation(i, validation_percent)],
        "validation": [i for i in train_found if is_validation(i, validation_percent)],
    }
    missing = {"train": sorted(set(train_ids) - set(train_on_disk))}
    if test_ids:
        splits["test"] = sorted(set(test_ids) & set(test_on_disk))
        missing["test"] = sorted(set(test_ids) - set(test_on_disk))
    return Plan(splits, missing)
