"""CheXpert's splits, by patient.

`test` is the official `valid.csv` (234 images, 200 studies, 200 patients; labelled by
3 radiologists) when the user has it. `train` and `validation` divide `train.csv` by
patient: CRC32 of the patient id ("patient00001") mod 100 below `validation_percent`
goes to `validation`. The rule needs no random state, gives the same answer on every
machine and for any part of the release, and never puts a patient in two splits.
"""

import zlib

from cxr_tfds.cxr_chexpert.metadata import Rows


def is_validation_patient(patient: str, validation_percent: int) -> bool:
    """Deterministic patient-level coin: CRC32 of the patient id string, mod 100."""
    return zlib.crc32(patient.encode()) % 100 < validation_percent


def plan(train: Rows, valid: Rows | None, validation_percent: int) -> dict[str, list[int]]:
    """Row indices per split: "train" and "validation" index `train`, "test" `valid`.

    Raises:
        ValueError: when a patient of `valid` also has rows in `train` (the official
            files are patient-disjoint; edited ones may not be).
    """
    splits = {"train": [], "validation": []}
    for i, patient in enumerate(train.patients):
        coin = is_validation_patient(patient, validation_percent)
        splits["validation" if coin else "train"].append(i)
    if valid is not None:
        both = sorted(set(valid.patients) & set(train.patients))
        if both:
            raise ValueError(
                f"valid.csv and train.csv share {len(both)} patients (e.g. {both[0]}); the "
                "official files are patient-disjoint: use the release's own valid.csv"
            )
        splits["test"] = list(range(len(valid)))
    return splits
