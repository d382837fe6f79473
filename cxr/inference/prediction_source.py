"""Where `cxr predict` gets its model, operating points and temperatures: a run directory
(its model.keras, points chosen on its validation predictions, its evaluation's
temperatures) or a `cxr export` bundle (`cxr.inference.bundle`: all three in its files).
"""

import pathlib
import sys

import keras

from cxr.errors import UserError
from cxr.inference import bundle, operating_points, temperature
from cxr.model import saved
from cxr.tracking.rundir import EvalDir, RunDir
from cxr_tfds.labels import LABELS


def load_run_model(run) -> keras.Model:
    """The model of a run directory (or a .keras path), checked to be a 14-label cxr model.

    Raises:
        UserError: when there is no model, or one cxr cannot load or did not make.
    """
    path = pathlib.Path(run)
    return saved.load_model(RunDir(path).model_file if path.is_dir() else path, len(LABELS))


def load(run, spec, *, calibrated=False, bundled=None):
    """(model, points, where they were chosen, (folder, temperatures) or None) of a run or
    of a `cxr export` bundle; the points mapped onto calibrated probabilities if asked."""
    if bundled is not None:
        model, points, chosen_on, temperatures = from_bundle(bundled, spec, calibrated)
    else:
        temperatures = temperature.for_prediction(run, LABELS) if calibrated else None
        model = load_run_model(run)
        points, chosen_on = (None, None) if spec is None else choose_points(run, spec)
    if points and temperatures is not None:
        points = operating_points.calibrated(points, temperatures[1])
    return model, points, chosen_on, temperatures


def from_bundle(folder, spec, calibrated):
    """(model, points, where they were chosen, temperatures) of a `cxr export` bundle."""
    folder = bundle.check(folder, LABELS)
    temperatures = None
    if calibrated:
        found = EvalDir(folder)
        temperatures = found, temperature.vector(temperature.load_temperatures(found), LABELS)
        print(
            f"Calibrated: probabilities temperature-scaled with {found.file(EvalDir.TEMPERATURES)}"
        )
    points, chosen_on = (None, None) if spec is None else bundle.points(folder, spec)
    return saved.load_model(folder / bundle.MODEL, len(LABELS)), points, chosen_on, temperatures


def choose_points(run, spec) -> tuple[list, dict]:
    """Each label's operating point `spec`, chosen on the run's validation predictions.

    Prints the points with the validation positives and negatives behind each, and
    one warning line (stderr) naming the labels whose threshold rests on fewer than
    `operating_points.MIN_POSITIVES` positives.

    Args:
        run: a run directory, or its model.keras.
        spec: from `cxr.inference.operating_points.parse`.

    Returns:
        (points, {"dataset": ..., "split": ...} of the validation predictions).

    Raises:
        UserError: for a model file outside a run directory, or a run without
            validation predictions.
    """
    path = pathlib.Path(run)
    run_dir = RunDir.open(path if path.is_dir() else path.parent)
    val = operating_points.validation_predictions(run_dir)
    if val["label_names"] != tuple(LABELS):
        raise UserError(f"{run_dir}: its validation predictions are not of the 14 NIH labels")
    points = operating_points.choose(spec, val["probs"], val["labels"], LABELS)
    print(f"Operating point {spec.name}, chosen on {val['split']} of {val['dataset']}:")
    for point in points:
        print(f"  {point.label:<20} {point.describe()}")
    warning = operating_points.few_positives_warning(
        {p.label: p.positives for p in points if p.reason is None}
    )
    if warning:
        print(warning, file=sys.stderr)
    return points, {"dataset": str(val["dataset"]), "split": str(val["split"])}
