"""Patient-disjoint train/validation/test splits of the images a user has.

`test` is NIH's official `test_list.txt`; `train` and `validation` divide
`train_val_list.txt` by patient, with a hash of the patient id, so a patient's
images never straddle two splits and the rule gives the same answer on every
machine and for every subset (adding images never moves a patient).
"""

import collections
import dataclasses
import zlib

from cxr_tfds.cxr14_subset.metadata import Entry


def is_validation_patient(patient_id: int, validation_percent: int) -> bool:
    """Deterministic patient-level coin: CRC32 of the decimal id, mod 100."""
    return zlib.crc32(str(patient_id).encode()) % 100 < validation_percent


@dataclasses.dataclass
class SplitPlan:
    """Which available images go in which split, and why the others do not."""

    splits: dict[str, list[str]]  # split name -> image ids, sorted
    skipped: collections.Counter  # reason -> number of images
    examples: dict[str, list[str]]  # reason -> a few image ids, for the log


def plan_splits(
    entries: dict[str, Entry],
    *,
    train_val: list[str],
    test: list[str],
    available: set[str],
    views: tuple[str, ...] = ("PA", "AP"),
    validation_percent: int = 10,
) -> SplitPlan:
    """Assigns each available image to `train`, `validation` or `test`.

    Args:
        entries: Data_Entry rows by image id.
        train_val: the official train+validation list.
        test: the official test list (wins if an image is in both lists).
        available: image ids found on disk.
        views: view positions to keep (`("PA",)` for a PA-only subset).
        validation_percent: share of train_val patients put in `validation`.

    Raises:
        AssertionError: if a patient would appear in two splits (NIH's lists are
            patient-disjoint; edited lists may not be).
    """
    official = {name: "test" for name in test}
    for name in train_val:
        official.setdefault(name, "train_val")
    splits = {"train": [], "validation": [], "test": []}
    skipped = collections.Counter()
    examples = collections.defaultdict(list)

    def skip(reason, name):
        skipped[reason] += 1
        if len(examples[reason]) < 5:
            examples[reason].append(name)

    for name in sorted(available):
        entry = entries.get(name)
        if entry is None:
            skip("on disk but not in the Data_Entry CSV", name)
        elif name not in official:
            skip("in neither train_val_list.txt nor test_list.txt", name)
        elif entry.view not in views:
            skip(f"view {entry.view} not in {'/'.join(views)}", name)
        elif official[name] == "test":
            splits["test"].append(name)
        elif is_validation_patient(entry.patient_id, validation_percent):
            splits["validation"].append(name)
        else:
            splits["train"].append(name)
    _assert_patient_disjoint(splits, entries)
    return SplitPlan(splits, skipped, dict(examples))


def _assert_patient_disjoint(splits: dict[str, list[str]], entries: dict[str, Entry]) -> None:
    seen: dict[int, str] = {}
    for split, names in splits.items():
        for name in names:
            patient = entries[name].patient_id
            other = seen.setdefault(patient, split)
            if other != split:
                raise AssertionError(
                    f"patient {patient} has images in both {other} and {split} "
                    f"(e.g. {name}); train_val_list.txt and test_list.txt must be "
                    "patient-disjoint, as NIH's are"
                )
