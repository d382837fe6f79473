"""VinDr-CXR's annotation CSV: one row per reader, finding and box, into one record per image.

Kaggle's `train.csv` (header `image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max`)
has a row per box a reader drew, and a `No finding` row (class 14, empty coordinates) for a
reader who marked none of the 14 findings. Per image this keeps its readers, the number of
them who marked each finding (`raw`, the builder's `raw_labels`) and every box in the
original DICOM's pixels, with the CSV line it came from.

A row that cannot be read (a column missing, a coordinate that is not a number, a box
with x_min >= x_max or a negative corner, a class_id that is not its class_name's, an
unknown finding in Kaggle's 14-class file) stops the build before anything is written:
`AnnotationError` names the file, the line and the value. Findings outside VinDr's 14 (the
PhysioNet release's 22 local labels) are counted and left out. Column and class names are
matched without case (PhysioNet writes `rad_ID`).

Pure Python and numpy.
"""

import csv
import dataclasses
import gzip
import io
import math

import numpy as np

from cxr_tfds.cxr_vindr.labels import LABEL_NAMES, NO_FINDING, NO_FINDING_ID, VINDR_NAMES

COLUMNS = ("image_id", "class_name", "rad_id", "x_min", "y_min", "x_max", "y_max")
CORNERS = ("x_min", "y_min", "x_max", "y_max")
CONSENSUS_READER = "consensus"  # the reader of a test row without a rad_id
# class_name -> class_id, matched without case: the releases' copies need not agree on it.
_INDEX = {name.lower(): k for k, name in enumerate(VINDR_NAMES)} | {
    NO_FINDING.lower(): NO_FINDING_ID
}


class AnnotationError(ValueError):
    """A row of an annotation CSV that cannot be read; one line naming file, line and value."""


@dataclasses.dataclass(frozen=True)
class ReaderBox:
    """One box one reader drew, in the original image's pixels."""

    finding: int  # index into LABEL_NAMES
    reader: str
    x_min: float
    y_min: float
    x_max: float
    y_max: float
    line: int  # the CSV line (the header is line 1), for messages


@dataclasses.dataclass
class ImageAnnotation:
    """What the readers said about one image."""

    image_id: str
    readers: set = dataclasses.field(default_factory=set)
    marked: list = dataclasses.field(default_factory=lambda: [set() for _ in LABEL_NAMES])
    boxes: list = dataclasses.field(default_factory=list)

    def raw(self, consensus: bool = False) -> np.ndarray:
        """int8 (14,): readers who marked each finding; for a consensus, 3 or 0."""
        counts = np.array([len(readers) for readers in self.marked], dtype=np.int8)
        return np.where(counts > 0, 3, 0).astype(np.int8) if consensus else counts


@dataclasses.dataclass
class Annotations:
    """A CSV's images, and the rows it left out (finding name -> rows)."""

    images: dict
    left_out: dict


def open_text(path) -> io.TextIOBase:
    """A CSV file as text, gzip-compressed or not (decided by its first bytes)."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return io.StringIO(data.decode("utf-8-sig"))


def read(path, *, strict_classes: bool = True) -> Annotations:
    """Reads an annotation CSV (`train.csv`, `annotations_test.csv`, plain or gzip).

    Args:
        path: an `etils.epath.Path` or `pathlib.Path`.
        strict_classes: a finding outside VinDr's 14 is an error (Kaggle's 14-class
            files); else it is counted in `left_out` (PhysioNet's 22 local labels).

    Raises:
        AnnotationError: naming the file, line and value of the first unreadable row.
    """
    reader = csv.DictReader(open_text(path))
    columns = _column_map(reader.fieldnames or [], path)
    images, left_out = {}, {}
    for line, row in enumerate(reader, start=2):
        row = {key: (row.get(name) or "").strip() for key, name in columns.items()}
        finding = _finding(row, path, line, strict_classes)
        if not row["image_id"]:
            raise AnnotationError(f"{path} line {line}: empty image_id")
        image = images.setdefault(row["image_id"], ImageAnnotation(row["image_id"]))
        reader_id = row.get("rad_id") or CONSENSUS_READER
        image.readers.add(reader_id)  # a reader of the image, whatever the finding
        if finding is None:
            left_out[row["class_name"]] = left_out.get(row["class_name"], 0) + 1
            continue
        if finding == NO_FINDING_ID:
            _check_empty(row, path, line)
            continue
        image.marked[finding].add(reader_id)
        image.boxes.append(ReaderBox(finding, reader_id, *_corners(row, path, line), line))
    return Annotations(images, left_out)


def _column_map(fieldnames, path) -> dict:
    """Our column name -> the file's (matched without case: PhysioNet writes rad_ID)."""
    by_lower = {name.strip().lower(): name for name in fieldnames}
    optional = ("rad_id", "class_id")
    missing = [c for c in COLUMNS if c not in by_lower and c not in optional]
    if missing:
        raise AnnotationError(
            f"{path}: no column {', '.join(missing)}; a VinDr-CXR annotation CSV has "
            f"{','.join(COLUMNS)} (header found: {','.join(fieldnames)})"
        )
    return {c: by_lower[c] for c in (*COLUMNS, "class_id") if c in by_lower}


def _finding(row, path, line, strict_classes) -> int | None:
    """The row's finding: its index in VINDR_NAMES, NO_FINDING_ID, or None (left out)."""
    name = row["class_name"]
    index = _INDEX.get(name.lower())
    if index is None and strict_classes:
        raise AnnotationError(
            f"{path} line {line}: class_name {name!r} is none of VinDr-CXR's 14 findings "
            f"nor {NO_FINDING!r}"
        )
    if index is None:
        return None
    if row.get("class_id") and row["class_id"] != str(index):
        raise AnnotationError(
            f"{path} line {line}: class_id {row['class_id']!r} is not {name!r}'s ({index})"
        )
    return index


def _corners(row, path, line) -> tuple[float, float, float, float]:
    try:
        x_min, y_min, x_max, y_max = (float(row[c]) for c in CORNERS)
    except ValueError:
        values = ",".join(row[c] for c in CORNERS)
        raise AnnotationError(
            f"{path} line {line}: box {values!r} of {row['class_name']!r} is not 4 numbers"
        ) from None
    if not all(map(math.isfinite, (x_min, y_min, x_max, y_max))) or min(x_min, y_min) < 0:
        raise AnnotationError(f"{path} line {line}: box corner out of range: {row}")
    if x_min >= x_max or y_min >= y_max:
        raise AnnotationError(
            f"{path} line {line}: empty box (x_min >= x_max or y_min >= y_max): "
            f"{x_min:g},{y_min:g},{x_max:g},{y_max:g}"
        )
    return x_min, y_min, x_max, y_max


def _check_empty(row, path, line) -> None:
    if any(row[c] for c in CORNERS):
        raise AnnotationError(
            f"{path} line {line}: a {NO_FINDING!r} row with a box "
            f"({','.join(row[c] for c in CORNERS)}); its coordinates must be empty"
        )
