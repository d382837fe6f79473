"""An exported bundle (`cxr export`): its file names, and reading it back for `cxr predict
--model`, which then needs nothing of the run: the model, its operating points and its
temperatures all come from the bundle (pure: JSON files in).
"""

import json
import math
import pathlib

from cxr.errors import UserError
from cxr.inference import operating_points
from cxr.tracking.rundir import EvalDir

MODEL = "model.keras"
LABELS = "labels.json"
OPERATING_POINTS = "operating_points.json"
TEMPERATURES = EvalDir.TEMPERATURES  # the same file, and format, as an evaluation's
EXAMPLE = "example.py"
CARD = "MODEL_CARD.md"
POINTS = ("f1", "youden")  # the operating points a bundle carries


def check(folder, label_names) -> pathlib.Path:
    """`folder` as a bundle of a model of `label_names`, checked.

    Raises:
        UserError: when it is not a bundle, or one of other labels.
    """
    folder = pathlib.Path(folder).expanduser()
    missing = [name for name in (MODEL, LABELS, OPERATING_POINTS) if not (folder / name).is_file()]
    if missing:
        raise UserError(
            f"--model {folder} is not a bundle of cxr export (no {', '.join(missing)}); "
            "make one with: cxr export <run dir> --out <folder>"
        )
    labels = tuple(json.loads((folder / LABELS).read_text())["labels"])
    if labels != tuple(label_names):
        raise UserError(f"--model {folder}: its labels are not the 14 NIH labels cxr predicts")
    return folder


def points(folder, spec) -> tuple[list, dict]:
    """The bundle's operating points of `spec` (f1 or youden), in its label order, and
    where they were chosen ({"dataset", "split"}).

    Raises:
        UserError: for a point the bundle does not carry (a rate needs the run's
            validation predictions).
    """
    saved = json.loads((pathlib.Path(folder) / OPERATING_POINTS).read_text())
    if spec.name not in saved:
        raise UserError(
            f"--operating-point {spec.name}: a bundle carries {' and '.join(POINTS)} only; "
            "use --run <run dir> for a point at a sensitivity or specificity"
        )
    labels = json.loads((pathlib.Path(folder) / LABELS).read_text())["labels"]
    return [_point(label, saved[spec.name][label]) for label in labels], saved["chosen_on"]


def _point(label: str, entry: dict) -> operating_points.OperatingPoint:
    """An `OperatingPoint` back from its `to_json()`; null (unsupported) as NaN."""

    def number(key):
        return math.nan if entry[key] is None else float(entry[key])

    return operating_points.OperatingPoint(
        label=label,
        name=entry["operating_point"],
        threshold=number("threshold"),
        sensitivity=number("sensitivity"),
        specificity=number("specificity"),
        positives=int(entry["positives"]),
        negatives=int(entry["negatives"]),
        reason=entry["unsupported"],
    )
