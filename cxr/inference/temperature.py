"""A run's temperatures at prediction time: `cxr predict --calibrated`.

The `calibration` evaluator (`cxr.evaluation.evaluators.calibration`) fits one
temperature per label on the validation predictions and saves them with the evaluation,
as temperatures.json in its `EvalDir`. Here they are read back and applied:

    temperatures = temperature.load_temperatures(eval_dir)      # {label: T or None}
    folder, temperatures = temperature.run_temperatures(run)    # the run's own
    calibrated = temperature.apply(probs, temperatures, label_names)

`apply` is `cxr.stats.temperature.scale`: sigmoid(logit(p) / T) per label, the logit
read from the probability with the clip stated there; a label without a temperature
(null: validation had no positive or no negative) keeps its probability.
"""

import json
import math
import pathlib

import numpy as np

from cxr.errors import UserError
from cxr.stats import temperature as scaling
from cxr.tracking.rundir import EvalDir, RunDir


def load_temperatures(eval_dir: EvalDir) -> dict:
    """{label: temperature (float) or None} of an evaluation's temperatures.json.

    Raises:
        UserError: when the folder has no temperatures.json, or it is not one.
    """
    path = EvalDir(pathlib.Path(getattr(eval_dir, "path", eval_dir))).file(EvalDir.TEMPERATURES)
    if not path.is_file():
        raise UserError(f"{path.parent} holds no {EvalDir.TEMPERATURES}: {_MAKE_THEM}")
    try:
        labels = json.loads(path.read_text())["labels"]
        return {str(k): _number(v["temperature"]) for k, v in labels.items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise UserError(f"{path}: not a temperatures file of cxr ({_MAKE_THEM})") from None


_MAKE_THEM = "the calibration evaluator writes it (cxr evaluate --run <run dir>)"


def _number(value):
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(value)
    return value


def run_temperatures(run) -> tuple[EvalDir, dict]:
    """The temperatures of a run: its own evaluation's (eval/), else those of `cxr
    evaluate` on its own test split (evaluations/<dataset>/<test split>/).

    Args:
        run: a run directory, or its model.keras.

    Raises:
        UserError: when neither has temperatures.json, saying which command makes them.
    """
    path = pathlib.Path(run)
    run_dir = RunDir.open(path if path.is_dir() else path.parent)
    data = run_dir.config()["data"]
    folders = [run_dir.evaluation(), run_dir.evaluation(data["name"], data["test_split"])]
    for folder in folders:
        if folder.file(EvalDir.TEMPERATURES).is_file():
            return folder, load_temperatures(folder)
    raise UserError(
        f"{run_dir}: no temperatures to calibrate with ({EvalDir.TEMPERATURES} in neither "
        f"{folders[0].path} nor {folders[1].path}); make them with: cxr evaluate --run {run_dir}"
    )


def for_prediction(run, label_names) -> tuple[EvalDir, np.ndarray]:
    """`cxr predict --calibrated`'s temperatures: (the evaluation folder, (L,) temperatures
    in `label_names` order, NaN where none); prints where they come from.

    Raises:
        UserError: for a run without temperatures, saying which command makes them.
    """
    folder, found = run_temperatures(run)
    print(f"Calibrated: probabilities temperature-scaled with {folder.file(EvalDir.TEMPERATURES)}")
    return folder, vector(found, label_names)


def vector(temperatures: dict, label_names) -> np.ndarray:
    """The temperatures in `label_names` order, NaN for a label without one.

    Raises:
        UserError: when a label has no entry (temperatures of another label set).
    """
    missing = [name for name in label_names if name not in temperatures]
    if missing:
        raise UserError(
            f"the temperatures do not cover {', '.join(missing)}: they belong to another "
            "label set; evaluate this run again (cxr evaluate --run <run dir>)"
        )
    return np.array([math.nan if temperatures[n] is None else temperatures[n] for n in label_names])


def apply(probs, temperatures: dict, label_names) -> np.ndarray:
    """Probabilities (N, L) temperature-scaled, float64; a label without one unchanged."""
    return scaling.scale(probs, vector(temperatures, label_names))
