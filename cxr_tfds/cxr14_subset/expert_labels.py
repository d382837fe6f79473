"""Readers for Google's radiologist relabels of NIH ChestX-ray14 images, as Google lays them out.

Files (from Google's public page for the NIH ChestX-ray14 relabels; research use only, cite
the paper named in each folder's LICENSE), in the NIH folder:
- `all_findings_expert_labels/` (Nabulsi et al., Sci Rep 2021): `test_labels.csv`, 810 test
    images, the majority of 3 radiologists on `Abnormal`, the 14 NIH findings and `Other`;
    `test_individual_readers.csv`, each of 5 readers on each image (`Reader ID`).
- `four_findings_expert_labels/` (Majkowska et al., Radiology 2019): `test_labels.csv` (1,962)
    and `validation_labels.csv` (2,414), adjudicated Fracture, Pneumothorax, Airspace opacity
    and Nodule or mass; `individual_readers.csv`, each reader's call.

Quirks handled (all present in Google's files): `Image ID` / `Image Index`; `Nodule or mass` /
`Nodule/mass`; `Pleural Thickening` (NIH: `Pleural_Thickening`); `YES`/`NO` mixed with `1`/`0`
(`Abnormal` of the all-findings readers); `HEDGE` in the four-findings readers, kept as -1
(CheXpert's convention for uncertain); a four-findings row with all four cells empty means the
image was not adjudicated and is skipped.

All readers raise `ValueError` naming the file, line and column of the first bad cell.
"""

import csv
import dataclasses

import numpy as np
from etils import epath

from cxr_tfds.labels import LABELS

ALL_FINDINGS = "expert_all"
FOUR_FINDINGS = "expert_four"
HEDGE = -1  # an individual reader's "uncertain" (four findings only)
# The all-findings ground truth is the majority of these three readers (Google's README);
# the other two are independent radiologists a model can be compared with.
ALL_GROUND_TRUTH_READERS = ("4343882785", "4343883593", "4343883996")

# One spelling per column: the same column is named differently from file to file.
_COLUMN_ALIASES = {
    "Image Index": "Image ID",
    "Set Id": "Set ID",
    "Nodule/mass": "Nodule or mass",
    "Pleural Thickening": "Pleural_Thickening",
}
_VALUES = {"YES": 1, "1": 1, "NO": 0, "0": 0}


@dataclasses.dataclass(frozen=True)
class ExpertSet:
    """One of Google's label sets.

    Attributes:
        name: `expert_all` or `expert_four`, the dataset feature and `--labels` name.
        folder: the folder Google ships it in, inside the NIH folder.
        findings: the columns of its label vectors, in this order.
        extra: per-image yes/no columns that are not findings (all findings: Abnormal, Other).
        truth_files: the adjudicated files.
        readers_file: every individual reader's calls.
        nih_labels: finding -> the NIH label it is the same finding as (for scoring a
            14-label model); the four-findings set has one: Pneumothorax.
    """

    name: str
    folder: str
    findings: tuple[str, ...]
    extra: tuple[str, ...]
    truth_files: tuple[str, ...]
    readers_file: str
    nih_labels: dict


SETS = {
    ALL_FINDINGS: ExpertSet(
        name=ALL_FINDINGS,
        folder="all_findings_expert_labels",
        findings=LABELS,
        extra=("Abnormal", "Other"),
        truth_files=("test_labels.csv",),
        readers_file="test_individual_readers.csv",
        nih_labels={label: label for label in LABELS},
    ),
    FOUR_FINDINGS: ExpertSet(
        name=FOUR_FINDINGS,
        folder="four_findings_expert_labels",
        findings=("Fracture", "Pneumothorax", "Airspace opacity", "Nodule or mass"),
        extra=(),
        truth_files=("test_labels.csv", "validation_labels.csv"),
        readers_file="individual_readers.csv",
        nih_labels={"Pneumothorax": "Pneumothorax"},
    ),
}


@dataclasses.dataclass(frozen=True)
class Call:
    """One image's labels from one source (the adjudicated truth or one reader).

    Attributes:
        findings: int8 (len(findings),) of 1 (yes), 0 (no), HEDGE (uncertain, readers only).
        extra: int8 (len(extra),), the same coding.
        reader_id: the reader, or "" for the adjudicated truth.
    """

    findings: np.ndarray
    extra: np.ndarray
    reader_id: str = ""


@dataclasses.dataclass(frozen=True)
class ExpertLabels:
    """A set read from disk: {image id: Call} and {image id: [Call of each reader]}."""

    spec: ExpertSet
    truth: dict
    readers: dict


def read_all(root: epath.PathLike) -> dict[str, ExpertLabels]:
    """Reads every set whose folder is in `root` (the NIH folder); {} when there is none."""
    root = epath.Path(root)
    return {name: read_set(root / spec.folder, spec) for name, spec in SETS.items() if (root / spec.folder).is_dir()}  # fmt: skip


def read_set(folder: epath.PathLike, spec: ExpertSet) -> ExpertLabels:
    """Reads one set's adjudicated and individual-reader files from `folder`.

    Raises:
        ValueError: a file is missing, or a row is bad (naming file, line and column).
    """
    folder = epath.Path(folder)
    truth = {}
    for name in spec.truth_files:
        for image_id, call in _calls(folder / name, spec, hedge=False):
            if image_id in truth and not _same(truth[image_id], call):
                raise ValueError(f"{folder / name}: {image_id} is labelled twice, differently")
            truth[image_id] = call
    readers: dict[str, list[Call]] = {}
    for image_id, call in _calls(folder / spec.readers_file, spec, hedge=True):
        readers.setdefault(image_id, []).append(call)
    return ExpertLabels(spec=spec, truth=truth, readers=readers)


def _calls(path: epath.Path, spec: ExpertSet, *, hedge: bool):
    """Yields (image id, Call) per row of one of the set's CSVs."""
    if not path.exists():
        raise ValueError(
            f"{path} is missing; put Google's {spec.folder}/ folder in the NIH folder whole"
        )
    rows = csv.reader(path.read_text(encoding="utf-8-sig").splitlines())
    header = [_COLUMN_ALIASES.get(h.strip(), h.strip()) for h in next(rows, [])]
    wanted = ("Image ID", *spec.findings, *spec.extra) + (("Reader ID",) if hedge else ())
    missing = [name for name in wanted if name not in header]
    if missing:
        raise ValueError(f"{path}: no column {missing[0]!r}; is it Google's {spec.folder} file?")
    where = {name: header.index(name) for name in wanted}
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        cells = {name: row[i].strip() if i < len(row) else "" for name, i in where.items()}
        if not any(cells[name] for name in spec.findings):
            continue  # not adjudicated (Google's README: a missing value means not included)
        parse = [_value(cells[name], path, line, name, hedge) for name in spec.findings]
        extra = [_value(cells[name], path, line, name, hedge) for name in spec.extra]
        call = Call(
            findings=np.array(parse, np.int8),
            extra=np.array(extra, np.int8),
            reader_id=cells.get("Reader ID", ""),
        )
        yield cells["Image ID"], call


def _value(text: str, path, line: int, column: str, hedge: bool) -> int:
    if hedge and text.upper() == "HEDGE":
        return HEDGE
    if text.upper() in _VALUES:
        return _VALUES[text.upper()]
    allowed = "YES, NO, 1, 0" + (" or HEDGE" if hedge else "")
    raise ValueError(f"{path}:{line}: column {column!r} holds {text!r}; expected {allowed}")


def _same(a: Call, b: Call) -> bool:
    return np.array_equal(a.findings, b.findings) and np.array_equal(a.extra, b.extra)


def empty_feature(spec: ExpertSet) -> dict:
    """The dataset feature of an image the set does not label: `present` False, zeros."""
    return {
        "present": False,
        "labels": np.zeros(len(spec.findings), np.uint8),
        **{feature_key(name): np.uint8(0) for name in spec.extra},
        "readers": [],
    }


def feature(labels: ExpertLabels, image_id: str) -> dict:
    """The dataset feature of one image (see `features_spec`): its truth and readers."""
    spec = labels.spec
    call = labels.truth.get(image_id)
    if call is None:
        return empty_feature(spec)
    return {
        "present": True,
        "labels": call.findings.astype(np.uint8),
        **{feature_key(name): np.uint8(v) for name, v in zip(spec.extra, call.extra, strict=True)},
        "readers": [
            {"reader_id": r.reader_id, "labels": r.findings, **_extra(spec, r)}
            for r in labels.readers.get(image_id, [])
        ],
    }


def _extra(spec, call):
    return {feature_key(name): np.int8(v) for name, v in zip(spec.extra, call.extra, strict=True)}


def feature_key(name: str) -> str:
    """The feature name of an `extra` column: `Abnormal` -> `abnormal`."""
    return name.lower().replace(" ", "_")
