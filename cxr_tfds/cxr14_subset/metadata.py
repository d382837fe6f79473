"""Readers for NIH ChestX-ray14's metadata files, in both published formats.

Files (NIH Clinical Center, https://nihcc.app.box.com/v/ChestXray-NIHCC):
- `Data_Entry_2017_v2020.csv`: the 2020 revision. LF line ends, 11 fields, plain
    integers (`0,1,57`).
- `Data_Entry_2017.csv`: the original, still shipped by Kaggle. CRLF line ends, a
    trailing comma in the header (12 header fields, 11 per row), zero-padded ids
    (`000`, `00000001`) and ages as `058Y` / `006M` / `001D`, some impossible (`412Y`).
    Labels differ from v2020 for 181 images, so v2020 wins when both are present.
- `train_val_list.txt`, `test_list.txt`: the official split, one image name per line.
- `BBox_List_2017.csv`: 984 boxes `x,y,w,h` in pixels of the 1024x1024 PNGs; it
    says `Infiltrate` where Data_Entry says `Infiltration`.

All readers take a path and raise `ValueError` naming the file and row on bad input.
"""

import csv
import dataclasses
import re

from etils import epath

from cxr_tfds.labels import BBOX_LABEL_ALIASES, LABELS, NO_FINDING

DATA_ENTRY_FILES = ("Data_Entry_2017_v2020.csv", "Data_Entry_2017.csv")  # preferred first
TRAIN_VAL_LIST = "train_val_list.txt"
TEST_LIST = "test_list.txt"
BBOX_FILE = "BBox_List_2017.csv"

_DATA_ENTRY_HEADER = (
    "Image Index",
    "Finding Labels",
    "Follow-up #",
    "Patient ID",
    "Patient Age",
    "Patient Gender",
    "View Position",
)
_AGE = re.compile(r"^(\d+)\s*([YMD]?)$")
_DAYS_PER_UNIT = {"Y": 365.25, "M": 365.25 / 12, "D": 1.0, "": 365.25}
# Older than any verified human: such ages are NIH typos (e.g. `412Y`); kept, but flagged.
MAX_PLAUSIBLE_AGE = 120


@dataclasses.dataclass(frozen=True)
class Entry:
    """One row of Data_Entry_2017*.csv."""

    image_id: str
    labels: tuple[str, ...]  # a subset of LABELS, in LABELS order; empty for `No Finding`
    follow_up: int
    patient_id: int
    age: int  # years, floored; months and days converted
    age_implausible: bool  # True when age > MAX_PLAUSIBLE_AGE, kept as NIH gave it
    sex: str  # "M" or "F"
    view: str  # "PA" or "AP"
    original_width: int
    original_height: int
    pixel_spacing_x: float  # mm per pixel of the original scan
    pixel_spacing_y: float


def find_data_entry(directory: epath.PathLike) -> epath.Path | None:
    """Returns the Data_Entry CSV in `directory`, v2020 preferred, or None."""
    for name in DATA_ENTRY_FILES:
        path = epath.Path(directory) / name
        if path.exists():
            return path
    return None


def parse_age(text: str) -> tuple[int, bool]:
    """Parses `57`, `058Y`, `006M` or `001D` into (whole years, implausible?).

    Raises:
        ValueError: when `text` is none of those forms.
    """
    match = _AGE.match(text.strip())
    if not match:
        raise ValueError(f"age {text!r} is not a number of years, months (M) or days (D)")
    years = int(int(match.group(1)) * _DAYS_PER_UNIT[match.group(2)] // 365.25)
    return years, years > MAX_PLAUSIBLE_AGE


def parse_labels(text: str) -> tuple[str, ...]:
    """Parses `Finding Labels` (`A|B` or `No Finding`) into LABELS order."""
    if text.strip() == NO_FINDING:
        return ()
    names = {name.strip() for name in text.split("|")}
    unknown = sorted(names - set(LABELS))
    if unknown:
        raise ValueError(
            f"unknown pathology {unknown[0]!r}; expected {NO_FINDING!r} or "
            f"'|'-joined names out of {', '.join(LABELS)}"
        )
    return tuple(name for name in LABELS if name in names)


def _rows(path: epath.Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Returns the header and the non-empty (line number, fields) rows; CRLF or LF."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    if not lines:
        raise ValueError(f"{path}: the file is empty; get a fresh copy from NIH")
    reader = csv.reader(lines)
    header = next(reader)
    return header, [(n, row) for n, row in enumerate(reader, start=2) if any(row)]


def read_data_entry(path: epath.PathLike) -> dict[str, Entry]:
    """Reads Data_Entry_2017_v2020.csv or Data_Entry_2017.csv into {image_id: Entry}.

    Exact duplicate rows are dropped; two different rows for one image are an error,
    since there is no telling which labels are right.

    Args:
        path: the CSV file.

    Raises:
        ValueError: naming the file and line of the first bad row.
    """
    path = epath.Path(path)
    header, rows = _rows(path)
    if tuple(h.strip() for h in header[:7]) != _DATA_ENTRY_HEADER:
        raise ValueError(
            f"{path}: header {','.join(header)!r} is not NIH's Data_Entry header "
            f"(expected it to start with {','.join(_DATA_ENTRY_HEADER)!r})"
        )
    entries: dict[str, Entry] = {}
    first_line: dict[str, int] = {}
    for line, row in rows:
        try:
            if len(row) < 11:
                raise ValueError(f"expected 11 fields, found {len(row)}")
            age, implausible = parse_age(row[4])
            entry = Entry(
                image_id=row[0].strip(),
                labels=parse_labels(row[1]),
                follow_up=int(row[2]),
                patient_id=int(row[3]),
                age=age,
                age_implausible=implausible,
                sex=_one_of(row[5], ("M", "F"), "sex"),
                view=_one_of(row[6], ("PA", "AP"), "view"),
                original_width=int(row[7]),
                original_height=int(row[8]),
                pixel_spacing_x=float(row[9]),
                pixel_spacing_y=float(row[10]),
            )
        except ValueError as e:
            raise ValueError(f"{path}:{line}: {e} (row {','.join(row)!r})") from None
        previous = entries.get(entry.image_id)
        if previous is not None and previous != entry:
            raise ValueError(
                f"{path}:{line}: {entry.image_id} is described differently on line "
                f"{first_line[entry.image_id]}; keep one of the two rows"
            )
        entries.setdefault(entry.image_id, entry)
        first_line.setdefault(entry.image_id, line)
    return entries


def _one_of(value: str, allowed: tuple[str, ...], what: str) -> str:
    value = value.strip()
    if value not in allowed:
        raise ValueError(f"{what} {value!r} is not one of {allowed}")
    return value


def read_image_list(path: epath.PathLike) -> list[str]:
    """Reads train_val_list.txt or test_list.txt (final newline optional)."""
    text = epath.Path(path).read_text(encoding="utf-8-sig")
    return [line.strip() for line in text.splitlines() if line.strip()]


@dataclasses.dataclass(frozen=True)
class Box:
    """One NIH box, in pixels of the 1024x1024 PNG."""

    label: str  # one of LABELS (NIH's `Infiltrate` renamed `Infiltration`)
    x: float
    y: float
    w: float
    h: float


def read_boxes(path: epath.PathLike) -> dict[str, list[Box]]:
    """Reads BBox_List_2017.csv into {image_id: [Box, ...]}.

    Raises:
        ValueError: naming the file and line of a row with too few fields, a
            non-numeric coordinate or an unknown finding.
    """
    path = epath.Path(path)
    _, rows = _rows(path)
    boxes: dict[str, list[Box]] = {}
    for line, row in rows:
        try:
            if len(row) < 6:
                raise ValueError(f"expected 6 fields, found {len(row)}")
            label = BBOX_LABEL_ALIASES.get(row[1].strip(), row[1].strip())
            if label not in LABELS:
                raise ValueError(f"unknown finding {row[1]!r}")
            box = Box(label, *(float(v) for v in row[2:6]))
        except ValueError as e:
            raise ValueError(f"{path}:{line}: {e} (row {','.join(row)!r})") from None
        boxes.setdefault(row[0].strip(), []).append(box)
    return boxes
