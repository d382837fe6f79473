"""CheXpert's `train.csv` / `valid.csv`: one row per image, read into column arrays.

Pure (csv, gzip, numpy): the 223,414 rows of the small release read in about a second.
Columns: `Path,Sex,Age,Frontal/Lateral,AP/PA,` then the 14 observations (labels.py).
`Path` is `CheXpert-v1.0-small/<split>/patientNNNNN/studyN/viewN_<frontal|lateral>.jpg`:
the patient and the study are read from it. A row the builder cannot read (a label
value other than 1.0, 0.0, -1.0 or blank, a Path without patient and study) raises
`BadRow`, naming the file, the row and the value, before anything is written.
"""

import csv
import dataclasses
import gzip
import io
import re

import numpy as np
from etils import epath

from cxr_tfds.cxr_chexpert.labels import CHEXPERT_COLUMNS, CSV_CODES

ATTRIBUTE_COLUMNS = ("Path", "Sex", "Age", "Frontal/Lateral", "AP/PA")
COLUMNS = ATTRIBUTE_COLUMNS + CHEXPERT_COLUMNS
SEX = {"Male": "M", "Female": "F", "Unknown": ""}  # cxr's "M"/"F", "" unknown
_PATH = re.compile(r"(?:^|/)(patient\d+)/(study\d+)/[^/]+$")


class BadRow(ValueError):
    """A CheXpert CSV row the builder cannot read; the message names file, row and value."""


@dataclasses.dataclass
class Rows:
    """A CheXpert CSV as columns, one entry per image (row order kept).

    Attributes:
        paths: the CSV's `Path`, also the image id.
        patients: "patientNNNNN".
        studies: "patientNNNNN/studyN" (a study number is only unique within its patient).
        sexes: "M", "F" or "" (CheXpert's one "Unknown").
        ages: years; -1 where blank.
        frontal: True for `Frontal`, False for `Lateral`.
        views: the `AP/PA` value as written: "AP", "PA", "" on laterals (and the 17
            frontal rows of the small release that say "LL" or "RL").
        raw: int8 [N, 14] codes in CHEXPERT_COLUMNS order: 1, 0, -1 uncertain, -2 blank.
    """

    paths: list[str]
    patients: list[str]
    studies: list[str]
    sexes: list[str]
    ages: np.ndarray
    frontal: np.ndarray
    views: list[str]
    raw: np.ndarray

    def __len__(self) -> int:
        return len(self.paths)


def open_text(path: epath.PathLike) -> io.TextIOBase:
    """A CSV as text, gunzipped when its name ends in .gz."""
    path = epath.Path(path)
    raw = path.open("rb")
    data = gzip.open(raw) if path.name.endswith(".gz") else raw
    return io.TextIOWrapper(data, encoding="utf-8", newline="")


def header(path: epath.PathLike) -> list[str]:
    """The column names of a CSV (empty for an empty or unreadable file)."""
    try:
        with open_text(path) as f:
            return next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError, EOFError):
        return []


def missing_columns(columns: list[str]) -> list[str]:
    """CheXpert's columns that `columns` lacks."""
    return [c for c in COLUMNS if c not in columns]


def read_rows(path: epath.PathLike) -> Rows:
    """Reads a CheXpert CSV (`train.csv`, `valid.csv`, or either gzipped).

    Raises:
        BadRow: a missing column, a label value not in CSV_CODES, an age that is not a
            whole number, or a Path without patientNNNNN/studyN/.
    """
    with open_text(path) as f:
        reader = csv.reader(f)
        names = next(reader, [])
        if missing_columns(names):
            raise BadRow(
                f"{path}: no column {', '.join(missing_columns(names))}; "
                f"CheXpert's CSVs have {', '.join(COLUMNS)}"
            )
        try:  # columns, not rows: numpy-ready
            table = list(zip(*reader, strict=True)) or [()] * len(names)
        except ValueError:
            raise BadRow(
                f"{path}: a row has another number of cells than the {len(names)} columns"
            ) from None
    column = dict(zip(names, table, strict=True))
    paths = list(column["Path"])
    patients, studies = _patients_and_studies(path, paths)
    return Rows(
        paths=paths,
        patients=patients,
        studies=studies,
        sexes=[_sex(path, n, value) for n, value in enumerate(column["Sex"], start=2)],
        ages=np.array([_age(path, n, v) for n, v in enumerate(column["Age"], start=2)], np.int32),
        frontal=np.array(column["Frontal/Lateral"]) == "Frontal",
        views=list(column["AP/PA"]),
        raw=_codes(path, [column[name] for name in CHEXPERT_COLUMNS]),
    )


def _codes(path, columns: list[tuple[str, ...]]) -> np.ndarray:
    """int8 [N, 14] codes of the observation columns; BadRow names the first bad cell."""
    unset = np.iinfo(np.int8).max
    raw = np.full((len(columns[0]), len(columns)), unset, np.int8)
    for j, cells in enumerate(columns):
        cells = np.array(cells, dtype=str)
        for value, code in CSV_CODES.items():
            raw[cells == value, j] = code
    if (raw == unset).any():
        row, j = np.argwhere(raw == unset)[0]
        raise BadRow(
            f"{path} row {row + 2}: {CHEXPERT_COLUMNS[j]} is {columns[j][row]!r}; CheXpert's "
            "values are 1.0, 0.0, -1.0 (uncertain) or blank"
        )
    return raw


def _patients_and_studies(path, paths: list[str]) -> tuple[list[str], list[str]]:
    patients, studies = [], []
    for n, image in enumerate(paths, start=2):
        match = _PATH.search(image)
        if match is None:
            raise BadRow(f"{path} row {n}: Path {image!r} names no patientNNNNN/studyN/ folder")
        patients.append(match.group(1))
        studies.append(f"{match.group(1)}/{match.group(2)}")
    return patients, studies


def _sex(path, n: int, value: str) -> str:
    if value not in SEX:
        raise BadRow(f"{path} row {n}: Sex is {value!r}; expected Male, Female or Unknown")
    return SEX[value]


def _age(path, n: int, value: str) -> int:
    if value == "":
        return -1
    try:
        return int(value)
    except ValueError:
        raise BadRow(f"{path} row {n}: Age is {value!r}, not a whole number of years") from None
