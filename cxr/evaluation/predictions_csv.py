"""A predictions CSV from any model, read and checked (`cxr score`'s input).

One row per image; an image column (`Image Index`, `image_id` or `Image ID`) and one column
per label, matched to the 14 labels ignoring case, spaces and underscores and one prefix or
suffix common to them all (`prob_Effusion`, `effusion_prob`). Labels it lacks are not
scored; a column that is no label is an error unless ignored.
"""

import csv
import math
import pathlib
import re

import numpy as np

from cxr.errors import UserError
from cxr.tracking.predictions import Predictions
from cxr_tfds.labels import LABELS

IMAGE_COLUMNS = ("Image Index", "image_id", "Image ID")
_HELP_CSV = (
    f"one row per image: an image column ({', '.join(IMAGE_COLUMNS)}) and a column per label"
)


def _key(name: str) -> str:
    return re.sub(r"[\s_]+", "", name).lower()


def read_predictions_csv(path, *, ignore=()) -> Predictions:
    """Reads a CSV of per-image probabilities from any model.

    Args:
        path: the CSV (header row first; comma-separated).
        ignore: columns to skip (a model's outputs that are none of the 14 labels).

    Raises:
        UserError: one line naming the file and the column or row: not a CSV, empty, no or
            two image columns, an unknown or ambiguous column, a cell that is not a
            probability in [0, 1], a row of the wrong length, an image on two rows.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise UserError(f"{path} is not a file; pass a CSV, {_HELP_CSV}")
    try:
        text = path.read_bytes().decode("utf-8-sig")
        rows = list(csv.reader(text.splitlines()))
    except (UnicodeDecodeError, csv.Error) as e:
        raise UserError(f"{path} is not a CSV text file ({e}); write {_HELP_CSV}") from None
    rows = [(line, row) for line, row in enumerate(rows, start=1) if any(c.strip() for c in row)]
    if not rows:
        raise UserError(f"{path} is empty; write {_HELP_CSV}")
    header = [c.strip() for c in rows[0][1]]
    image_column, label_columns = _match_columns(path, header, ignore)
    if len(rows) == 1:
        raise UserError(f"{path} has a header but no rows; write {_HELP_CSV}")
    names = tuple(x for x in LABELS if x in label_columns)
    probs = np.empty((len(rows) - 1, len(names)))
    ids, first_line = [], {}
    for k, (line, row) in enumerate(rows[1:]):
        if len(row) != len(header):
            raise UserError(f"{path}:{line}: {len(row)} fields, the header has {len(header)}")
        image_id = row[image_column].strip()
        if image_id in first_line:
            raise UserError(f"{path}: image {image_id} is on rows {first_line[image_id]} and {line}; keep one row per image")  # fmt: skip
        first_line[image_id] = line
        ids.append(image_id)
        for j, name in enumerate(names):
            probs[k, j] = _probability(row[label_columns[name]], path, line, header[label_columns[name]])  # fmt: skip
    return Predictions(probs=probs, image_id=ids, label_names=names, path=path)


def _probability(cell: str, path, line: int, column: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:  # False for NaN too
        raise UserError(f"{path}:{line}: column {column!r} holds {cell.strip()!r}, not a probability in [0, 1]")  # fmt: skip
    return value


def _match_columns(path, header, ignore) -> tuple[int, dict]:
    """(index of the image column, {label: column index}), or a UserError naming a column."""
    image_keys = {_key(x) for x in IMAGE_COLUMNS}
    images = [i for i, name in enumerate(header) if _key(name) in image_keys]
    if len(images) != 1:
        found = ", ".join(repr(header[i]) for i in images) or "none"
        raise UserError(f"{path}: needs exactly one image column ({', '.join(IMAGE_COLUMNS)}); found {found}")  # fmt: skip
    skip = {_key(x) for x in ignore}
    candidates = {i: _key(name) for i, name in enumerate(header) if i != images[0] and _key(name) not in skip}  # fmt: skip
    prefix, suffix = _affix(list(candidates.values()))
    labels = {_key(x): x for x in LABELS}
    out = {}
    for i, key in candidates.items():
        bare = key[len(prefix) : len(key) - len(suffix)] if key.startswith(prefix) and key.endswith(suffix) else None  # fmt: skip
        if bare not in labels:
            raise UserError(f"{path}: column {header[i]!r} is none of the 14 labels ({', '.join(LABELS)}); rename it or pass --ignore {header[i]!r}")  # fmt: skip
        if labels[bare] in out:
            raise UserError(f"{path}: columns {header[out[labels[bare]]]!r} and {header[i]!r} are both {labels[bare]}; keep one")  # fmt: skip
        out[labels[bare]] = i
    return images[0], out


def _affix(keys) -> tuple[str, str]:
    """The (prefix, suffix), one of them empty, that turns the most columns into labels."""
    counts = {("", ""): 0}
    for key in keys:
        for label in {_key(x) for x in LABELS}:
            if key.endswith(label):
                counts[(key[: -len(label)], "")] = counts.get((key[: -len(label)], ""), 0) + 1
            if key.startswith(label) and key != label:
                counts[("", key[len(label) :])] = counts.get(("", key[len(label) :]), 0) + 1
    return max(counts, key=lambda affix: (counts[affix], affix == ("", "")))
