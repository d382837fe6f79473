"""`cxr export`: a run's model as a bundle a colleague can use without cxr.

    cxr export runs/<name>/<run id> --out bundles/<name>

writes, in a new (or empty) folder:

    model.keras             the model without optimizer state (a run's model.keras keeps
                            it, to resume): raw [0, 255] gray-as-RGB pixels in, logits out,
                            its preprocessing inside; plain `keras.models.load_model` on
                            TensorFlow or JAX, no cxr needed
    labels.json             the label names in the logits' order, the input size and range
    operating_points.json   each label's max-F1 and max-Youden thresholds, chosen on the
                            run's validation predictions (`cxr.inference.operating_points`)
    temperatures.json       each label's temperature (`cxr predict --calibrated`), where the
                            run's evaluation fitted them
    example.py              a few lines that need only Keras and numpy
    MODEL_CARD.md           the model card (`cxr.inference.model_card`)

and logs the folder as a W&B artifact of the run (type "bundle"). Everything is checked,
and the model loaded, before the folder is made.
"""

import json
import pathlib
import shutil

import keras

from cxr.errors import UserError, exits_cleanly
from cxr.inference import bundle, export_cli, model_card, operating_points
from cxr.model import saved
from cxr.tracking import wandb_logging
from cxr.tracking.rundir import EvalDir, RunDir

MODEL, LABELS, OPERATING_POINTS = bundle.MODEL, bundle.LABELS, bundle.OPERATING_POINTS
TEMPERATURES, EXAMPLE, CARD, POINTS = (
    bundle.TEMPERATURES,
    bundle.EXAMPLE,
    bundle.CARD,
    bundle.POINTS,
)
ARTIFACT_TYPE = "bundle"

EXAMPLE_TEXT = '''"""Probabilities of one chest X-ray with this bundle: needs only Keras and numpy.

    python example.py            # scores a blank image, to show the shapes
"""

import json
import pathlib

import keras
import numpy as np

HERE = pathlib.Path(__file__).parent
model = keras.models.load_model(HERE / "model.keras", compile=False)
info = json.loads((HERE / "labels.json").read_text())
size = info["image_size"]

# A gray X-ray as uint8 or float pixels in [0, 255], resized to size x size (any
# reader: keras.utils.load_img(path, color_mode="grayscale", target_size=(size, size))).
gray = np.zeros((size, size), np.float32)
x = np.repeat(gray[None, :, :, None], 3, axis=-1)  # (1, size, size, 3): gray as RGB

logits = keras.ops.convert_to_numpy(model(x, training=False))[0]
temperatures = HERE / "temperatures.json"  # present when the run was calibrated
if temperatures.exists():  # a label without a temperature (null) stays as it is
    fits = json.loads(temperatures.read_text())["labels"]
    t = [fits[name]["temperature"] or 1.0 for name in info["labels"]]
    logits = logits / np.array(t)
probability = 0.5 * (1 + np.tanh(logits / 2))  # the sigmoid, without overflow
points = json.loads((HERE / "operating_points.json").read_text())["youden"]
for name, p in zip(info["labels"], probability):
    point = points[name]
    if point["threshold"] is None:  # validation could not support one
        print(f"{name:<20} {p:.3f}  no threshold: {point['unsupported']}")
    else:
        decision = "positive" if p >= point["threshold"] else "negative"
        print(f"{name:<20} {p:.3f}  {decision} ({point['rule']}, Youden's J)")
'''


def export(run, out, *, evaluation=None, wandb_mode=None) -> pathlib.Path:
    """Writes the bundle of `run` into `out` (see the module's docstring); returns `out`.

    Raises:
        UserError: for a folder that is not a finished run, an `out` that holds files, or
            a run without validation predictions; before anything is written.
    """
    run = RunDir.open(run)
    out = pathlib.Path(out).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out {out} exists and is not an empty folder; choose a new one")
    eval_dir = EvalDir(evaluation) if evaluation else run.evaluation()
    if not eval_dir.file(EvalDir.METRICS).is_file():
        raise UserError(f"{eval_dir.path} holds no {EvalDir.METRICS}; evaluate the run first")
    model = saved.load_model(run.model_file)
    labels = json.loads(eval_dir.file(EvalDir.METRICS).read_text())["labels"]
    points = _operating_points(run, labels)
    out.mkdir(parents=True, exist_ok=True)
    _bare(model).save(out / MODEL)
    info = {"labels": labels, "image_size": int(model.input.shape[1])}
    info["input"] = "float32 (N, size, size, 3): gray pixels in [0, 255] repeated into 3 channels"
    info["output"] = "logits (N, labels); probability = sigmoid(logit / temperature)"
    (out / LABELS).write_text(json.dumps(info, indent=1) + "\n")
    (out / OPERATING_POINTS).write_text(json.dumps(points, indent=1) + "\n")
    if eval_dir.file(TEMPERATURES).is_file():
        shutil.copyfile(eval_dir.file(TEMPERATURES), out / TEMPERATURES)
    (out / EXAMPLE).write_text(EXAMPLE_TEXT)
    (out / CARD).write_text(model_card.card(run, eval_dir, bundle=out))
    _log_artifact(run, out, wandb_mode)
    return out


def _bare(model: keras.Model) -> keras.Model:
    """`model`'s layers and weights in a model never compiled, so saved without optimizer
    state (Keras's `clone_model` keeps the compile state, and with it the optimizer's)."""
    return keras.Model(model.input, model.output, name=model.name)


def _operating_points(run: RunDir, labels) -> dict:
    """{point: {label: its to_json()}, "chosen_on": ...} on the run's validation predictions."""
    val = operating_points.validation_predictions(run)
    if tuple(val["label_names"]) != tuple(labels):
        raise UserError(f"{run}: its validation predictions are not of the evaluation's labels")
    out = {"chosen_on": {"dataset": str(val["dataset"]), "split": str(val["split"])}}
    for name in POINTS:
        chosen = operating_points.choose(
            operating_points.parse(name), val["probs"], val["labels"], labels
        )
        out[name] = {p.label: p.to_json() for p in chosen}
    return out


def _log_artifact(run: RunDir, out: pathlib.Path, mode) -> None:
    """The bundle as an artifact of the run's own W&B run (resumed by its id)."""
    config = run.config()
    wandb = config.get("wandb", {})
    job = wandb_logging.init_wandb(
        config=config,
        name=f"{config['name']}/{run.name}",
        run_dir=run.path,
        group=config["name"],
        mode=mode or wandb.get("mode"),
        project=wandb.get("project", "cxr"),
        run_id=run.name,
        job_type="export",
    )
    with wandb_logging.finishing(job) as wandb_run:
        wandb_logging.log_folder_artifact(wandb_run, out, f"bundle-{run.name}", ARTIFACT_TYPE)


def main(argv=None) -> int:
    """`cxr export`: writes the bundle and prints where, with its size."""
    args = export_cli.parser().parse_args(argv)
    out = exits_cleanly(export)(
        args.run, args.out, evaluation=args.evaluation, wandb_mode=args.wandb
    )
    if isinstance(out, int):  # the exit code of a UserError, already printed
        return out
    size = sum(f.stat().st_size for f in out.iterdir() if f.is_file())
    print(f"Bundle written to {out} ({size / 1e6:.1f} MB); see {out / CARD}")
    return 0
