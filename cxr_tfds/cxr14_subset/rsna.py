"""The RSNA Pneumonia Detection Challenge's radiologist labels, joined to NIH image names.

Files (the challenge's stage-2 labels, Shih et al., Radiology: AI 2019; research use only),
in `rsna_pneumonia/` inside the NIH folder or at the NIH folder's root:
- `stage_2_train_labels.csv`: `patientId,x,y,width,height,Target`, one row per opacity box
    (x, y = top-left corner, in pixels of the 1024 x 1024 frame, NIH's PNG frame); `Target` 0
    with empty coordinates for an image without opacity.
- `nih_crossref.csv`: `patientId,Image Index,mse,class`, the NIH image each challenge image
    is (by the pixel mean squared error of a public match) and the challenge's class.
- `stage_2_train_images_dicom_headers.csv`: the challenge's DICOM headers; not read, since
    NIH's own CSV gives the same images' age, sex and view (corrected in its 2020 revision).

`patientId` names one image, not a patient: patients come from NIH's CSV, never from it.

What happens to each kind of row (every case is counted in `RsnaLabels.counts`):
- a match with mse > MAX_MSE is not the same image: skipped and counted (`non_matches`);
- an NIH image matched by two challenge ids: kept once when both say the same class and boxes
    (`duplicate_matches`), left out when they disagree (`duplicate_conflicts`);
- a malformed row (missing column, not a number, `Target` not 0/1, a box with width or
    height <= 0, coordinates on a `Target` 0 row, a class that contradicts `Target`) or a box
    outside the 1024-px frame: `ValueError` naming the file, line and row; the build stops
    before writing anything (`source_dir.preflight` reads the files first).

Pure Python and numpy: no TensorFlow.
"""

import collections
import csv
import dataclasses
import math

import numpy as np
from etils import epath

NAME = "rsna"  # the feature's key and the `--labels` / `--boxes` name of these labels
CLASSES = ("Lung Opacity", "No Lung Opacity / Not Normal", "Normal")
OPACITY = CLASSES[0]  # the class of exactly the images with `Target` 1
MAX_MSE = 30  # torchxrayvision's cxrmatch.py: a match above this is a non-match
FRAME = 1024  # the challenge's boxes are in pixels of NIH's 1024 x 1024 PNG frame
FOLDER = "rsna_pneumonia"
LABELS_FILE = "stage_2_train_labels.csv"
CROSSREF_FILE = "nih_crossref.csv"
HEADERS_FILE = "stage_2_train_images_dicom_headers.csv"
FILES = (LABELS_FILE, HEADERS_FILE, CROSSREF_FILE)
_LABEL_COLUMNS = ("patientId", "x", "y", "width", "height", "Target")
_CROSSREF_COLUMNS = ("patientId", "Image Index", "mse", "class")


@dataclasses.dataclass(frozen=True)
class RsnaImage:
    """One NIH image's RSNA labels.

    Attributes:
        cls: one of CLASSES.
        boxes: float32 (k, 4) opacity boxes as (x, y, width, height) in NIH's 1024-px frame;
            (0, 4) unless `cls` is `Lung Opacity`.
        challenge_id: the challenge's `patientId` (an image name, not a patient).
    """

    cls: str
    boxes: np.ndarray
    challenge_id: str


@dataclasses.dataclass(frozen=True)
class RsnaLabels:
    """RSNA's labels read from disk.

    Attributes:
        by_image: NIH `Image Index` -> RsnaImage, for the good matches (mse <= MAX_MSE).
        counts: label_rows, crossref_rows, matches_kept (images), non_matches,
            duplicate_matches, duplicate_conflicts, unlabelled_matches (a crossref id without
            a labels row), images_per_class {class: images}, boxes.
        folder: where the files were read.
    """

    by_image: dict
    counts: dict
    folder: epath.Path


def find(folder: epath.PathLike) -> epath.Path | None:
    """Where RSNA's files are: `folder/rsna_pneumonia/` if it is a folder, else `folder`
    itself if it holds one of them, else None (the NIH folder has no RSNA labels)."""
    root = epath.Path(folder)
    if (root / FOLDER).is_dir():
        return root / FOLDER
    if any((root / name).exists() for name in (LABELS_FILE, CROSSREF_FILE)):
        return root
    return None


def read(folder: epath.PathLike) -> RsnaLabels:
    """Reads RSNA's labels from `folder` (the NIH folder or the RSNA folder itself).

    Raises:
        ValueError: no RSNA files there, a file missing, or a bad row (naming file and line).
    """
    where = find(folder)
    if where is None:
        raise ValueError(f"{folder} holds no RSNA files ({LABELS_FILE}, {CROSSREF_FILE})")
    boxes, targets = _read_labels(where / LABELS_FILE)
    counts = collections.Counter(label_rows=sum(len(b) or 1 for b in boxes.values()))
    by_image: dict[str, RsnaImage] = {}
    conflicts = set()
    for line, row in _rows(where / CROSSREF_FILE, _CROSSREF_COLUMNS):
        counts["crossref_rows"] += 1
        challenge_id, image_id, mse, cls = (row[c] for c in _CROSSREF_COLUMNS)
        if cls not in CLASSES:
            _bad(where / CROSSREF_FILE, line, row, f"class {cls!r} is not one of {CLASSES}")
        if _number(mse, where / CROSSREF_FILE, line, row) > MAX_MSE:
            counts["non_matches"] += 1
            continue
        if challenge_id not in targets:
            counts["unlabelled_matches"] += 1
            continue
        if (cls == OPACITY) != targets[challenge_id]:
            why = f"class {cls!r} but Target {int(targets[challenge_id])} in {LABELS_FILE}"
            _bad(where / CROSSREF_FILE, line, row, why)
        image = RsnaImage(cls, _as_array(boxes[challenge_id]), challenge_id)
        previous = by_image.get(image_id)
        if previous is None:
            by_image[image_id] = image
        elif _same(previous, image) and image_id not in conflicts:
            counts["duplicate_matches"] += 1
        else:
            conflicts.add(image_id)
    for image_id in conflicts:
        del by_image[image_id]
    counts["duplicate_conflicts"] = len(conflicts)
    counts["matches_kept"] = len(by_image)
    per_class = collections.Counter(image.cls for image in by_image.values())
    return RsnaLabels(
        by_image=by_image,
        counts={
            **{k: counts[k] for k in _COUNT_KEYS},
            "images_per_class": {cls: per_class[cls] for cls in CLASSES},
            "boxes": sum(len(image.boxes) for image in by_image.values()),
        },
        folder=where,
    )


_COUNT_KEYS = (
    "label_rows",
    "crossref_rows",
    "matches_kept",
    "non_matches",
    "duplicate_matches",
    "duplicate_conflicts",
    "unlabelled_matches",
)


def _read_labels(path: epath.Path) -> tuple[dict, dict]:
    """({challenge id: [(x, y, w, h), ...]}, {challenge id: Target is 1}) of the labels file."""
    boxes: dict[str, list] = {}
    targets: dict[str, bool] = {}
    for line, row in _rows(path, _LABEL_COLUMNS):
        challenge_id, target = row["patientId"], row["Target"]
        if target not in ("0", "1"):
            _bad(path, line, row, f"Target {target!r} is not 0 or 1")
        if targets.setdefault(challenge_id, target == "1") != (target == "1"):
            _bad(path, line, row, f"{challenge_id} has rows with Target 0 and Target 1")
        coordinates = [row[c] for c in _LABEL_COLUMNS[1:5]]
        if target == "0":
            if any(coordinates):
                _bad(path, line, row, "a Target 0 row has coordinates")
            boxes.setdefault(challenge_id, [])
            continue
        box = tuple(_number(v, path, line, row) for v in coordinates)
        _check_box(box, path, line, row)
        boxes.setdefault(challenge_id, []).append(box)
    return boxes, targets


def _check_box(box, path, line, row) -> None:
    """Refuses a box with no area or reaching outside the frame; one touching an edge is fine."""
    x, y, w, h = box
    if w <= 0 or h <= 0:
        _bad(path, line, row, f"the box has width {w:g} and height {h:g}; both must be > 0")
    if x < 0 or y < 0 or x + w > FRAME or y + h > FRAME:
        _bad(
            path,
            line,
            row,
            f"the box spans x {x:g}..{x + w:g}, y {y:g}..{y + h:g}, outside the "
            f"{FRAME} x {FRAME} frame of NIH's images; is this RSNA's file?",
        )


def _rows(path: epath.Path, columns: tuple[str, ...]):
    """Yields (line number, {column: stripped cell}) of a CSV, checking its header first."""
    if not path.exists():
        raise ValueError(
            f"{path} is missing; put the RSNA files ({', '.join(FILES)}) in the NIH folder "
            f"or its {FOLDER}/ folder, whole"
        )
    reader = csv.reader(path.read_text(encoding="utf-8-sig").splitlines())
    header = [h.strip() for h in next(reader, [])]
    missing = [c for c in columns if c not in header]
    if missing:
        raise ValueError(f"{path}: no column {missing[0]!r}; is it RSNA's {path.name}?")
    where = {c: header.index(c) for c in columns}
    for line, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            _bad(path, line, cells, f"{len(cells)} fields, the header has {len(header)}")
        yield line, {c: cells[i].strip() for c, i in where.items()}


def _number(text: str, path, line, row) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        _bad(path, line, row, f"{text!r} is not a number")
    return value


def _bad(path, line, row, why: str):
    cells = ",".join(row.values() if isinstance(row, dict) else row)
    raise ValueError(f"{path}:{line}: {why} (row {cells!r}); fix or remove the row")


def _as_array(boxes: list) -> np.ndarray:
    return np.array(boxes, np.float32).reshape(-1, 4)


def _same(a: RsnaImage, b: RsnaImage) -> bool:
    return a.cls == b.cls and sorted(map(tuple, a.boxes.tolist())) == sorted(
        map(tuple, b.boxes.tolist())
    )
