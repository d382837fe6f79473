"""The command lines of the subcommands that need TensorFlow, JAX or Keras, read before
those start.

Their modules import Keras at the top, so their own parsers answer `--help` or a typo only
after 10-15 s of framework start-up. `check(name, argv)` reads the same options here,
with argparse and `cxr.tracking.rundir` alone: `--help`, an unknown flag or a missing
argument is answered at once (argparse's usage and exit code 2), and a run directory or
input file that does not exist is one line naming it (`UserError`). Only then does the
`cxr` command start the frameworks and call the module's `main(argv)`, which reads the
command line again with its own parser.

Each parser here mirrors its module's option for option (names, arity, required,
choices); tests/cli/test_arguments.py compares the two, so that a new option is added to
both.
"""

import argparse
import os
import pathlib

from cxr.bench.scale_report import STAGES
from cxr.errors import UserError
from cxr.evaluation import box_reference
from cxr.evaluation.label_reference import RADIOLOGIST_SETS
from cxr.inference import export_cli
from cxr.inference.operating_points import HELP as OPERATING_POINT_HELP
from cxr.saliency import registry as saliency_registry
from cxr.tracking.rundir import RunDir

_RUN = "runs/<name>/<run id>"
_DATA = "cxr14_subset/<config>; default: the run's dataset"
_MANUAL_DIR = "NIH files; default: the run's, then $CXR14_DIR"
# cxr.runtime.speed's XLA and PRECISIONS (that module imports Keras); the test above fails
# when they differ. The saliency methods come from the pure registry both parsers read.
SPEED_XLA = ("on", "off")
SPEED_PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
SALIENCY_DEFAULT_METHODS = saliency_registry.default_names()


def _parser(name: str, description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog=f"cxr {name}", description=description)


def evaluate() -> argparse.ArgumentParser:
    """`cxr evaluate`'s options (cxr.pipeline.evaluate.main)."""
    parser = _parser("evaluate", "The evaluation stage, and `make evaluate`: a saved run on any built split.")  # fmt: skip
    parser.add_argument("--run", required=True, help=_RUN)
    parser.add_argument("--data", help=_DATA)
    parser.add_argument("--split", help="default: the run's test split")
    parser.add_argument("--val-split", help="where thresholds are chosen; default: validation")
    parser.add_argument("--data-dir", help="TFDS data dir; default: the run's")
    parser.add_argument("--manual-dir", help=_MANUAL_DIR)
    parser.add_argument("--labels", choices=RADIOLOGIST_SETS, help="radiologists' labels")
    parser.add_argument("--nih-dir", help="with --labels: NIH's files and the radiologists'")
    return parser


def predict() -> argparse.ArgumentParser:
    """`cxr predict`'s options (cxr.inference.predict.main)."""
    parser = _parser("predict", "Predicts the 14 findings of X-ray files with a trained run, with Grad-CAM overlays.")  # fmt: skip
    parser.add_argument("paths", nargs="+", help="image files (PNG, JPEG, DICOM) or folders")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="a run directory, or its model.keras")
    source.add_argument("--model", help="a bundle folder of `cxr export`, instead of --run")
    parser.add_argument("--out", required=True, help="folder for predictions.csv and overlays")
    parser.add_argument("--top", type=_at_least_zero, default=3, help="labels to draw Grad-CAM for")
    parser.add_argument(
        "--operating-point",
        help=f"decide each label at a threshold chosen on the run's validation predictions: "
        f"{OPERATING_POINT_HELP}",
    )
    parser.add_argument(
        "--calibrated",
        action="store_true",
        help="temperature-scale the probabilities (and thresholds) with the temperatures "
        "the run's evaluation fitted on validation",
    )
    return parser


def _at_least_zero(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def dashboard() -> argparse.ArgumentParser:
    """`cxr dashboard`'s options (cxr.pipeline.dashboard.main)."""
    parser = _parser("dashboard", "A W&B workspace view to review runs in: `make dashboard RUN=runs/<name>/<id> | GROUP=<name>`.")  # fmt: skip
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", help=_RUN)
    which.add_argument("--group", help="an experiment's name: all its runs")
    parser.add_argument("--runs-dir", default="runs", help="where --group's runs are")
    parser.add_argument("--entity", help="W&B user or team; default: yours")
    return parser


def speed() -> argparse.ArgumentParser:
    """`cxr speed`'s options (cxr.runtime.speed.main)."""
    parser = _parser("speed", 'Mixed precision and XLA: "auto" picks what is faster on the machine at hand.')  # fmt: skip
    parser.add_argument("--xla", default="auto", choices=("auto", *SPEED_XLA))
    parser.add_argument("--precision", default="auto", choices=("auto", *SPEED_PRECISIONS))
    parser.add_argument("--probe", action="store_true", help="measure again")
    parser.add_argument("--measure_to", help=argparse.SUPPRESS)  # the child process
    return parser


def bench() -> argparse.ArgumentParser:
    """`cxr bench`'s options (cxr.bench.rows.main)."""
    from cxr.bench import options  # pure: the one parser both read

    return options.parser()


def bench_scale() -> argparse.ArgumentParser:
    """`cxr bench-scale`'s options (cxr.bench.scale.main)."""
    parser = _parser("bench-scale", "`make bench-scale`: time and peak memory of every stage against the number of images.")  # fmt: skip
    parser.add_argument("--sizes", default="1500,15000,112120", help="numbers of images, commas")
    parser.add_argument(
        "--image-size", type=int, default=32, help="pixels; DenseNet121 needs >= 32"
    )
    parser.add_argument(
        "--sample-dir",
        default=os.environ.get("CXR14_SAMPLE_DIR", "../shared/cxr14"),
        help="NIH's metadata files; synthetic metadata when absent",
    )
    parser.add_argument("--out", default="bench/scale.json")
    parser.add_argument("--work", help="where the data is written (default: a temporary dir)")
    parser.add_argument(
        "--stages", default=",".join(STAGES), help="a subset of the stages, commas (build always)"
    )
    return parser


def saliency() -> argparse.ArgumentParser:
    """`cxr saliency`'s options (cxr.pipeline.saliency_study.main)."""
    parser = _parser("saliency", "`cxr saliency`: every saliency method scored on a split's boxes, with CIs and sanity checks.")  # fmt: skip
    parser.add_argument("--run", required=True, help=_RUN)
    parser.add_argument(
        "--methods", nargs="+", default=list(SALIENCY_DEFAULT_METHODS),
        help="of: " + " ".join(saliency_registry.METHODS),
    )  # fmt: skip
    parser.add_argument("--data", help=_DATA)
    parser.add_argument("--split", help="default: the run's test split")
    parser.add_argument(
        "--boxes", choices=list(box_reference.SETS), default=box_reference.NIH,
        help="whose boxes the maps are scored against",
    )  # fmt: skip
    parser.add_argument("--option", action="append", help="METHOD.NAME=VALUE, e.g. ig.steps=16")
    parser.add_argument(
        "--sanity-images", type=int, default=3, help="images of the sanity check; 0: none"
    )
    parser.add_argument("--gallery-images", type=int, default=4, help="(image, box) pairs drawn")
    parser.add_argument("--num-bootstrap", type=int, help="default: the run's eval.num_bootstrap")
    parser.add_argument("--data-dir", help="TFDS data dir; default: the run's")
    parser.add_argument("--manual-dir", help=_MANUAL_DIR)
    parser.add_argument(
        "--permuted-run",
        help="runs/<name>_permuted/<run id>: a run trained on permuted labels (an experiment's "
        ":permuted variant) for the data randomisation test on the --sanity-images images",
    )
    return parser


def _exists(path, flag: str) -> None:
    """A `UserError` naming `path` (given as `flag`) when nothing is there."""
    if path is not None and not pathlib.Path(path).expanduser().exists():
        raise UserError(f"{flag} {path}: no such file or folder; check the path")


def _runs_and_dirs(args) -> None:
    """The run directories and input folders an evaluate, saliency or dashboard names."""
    for flag in ("run", "permuted_run"):
        if getattr(args, flag, None):
            RunDir.open(args.__dict__[flag])  # a one-line UserError naming it
    for flag in ("manual_dir", "nih_dir"):
        _exists(getattr(args, flag, None), "--" + flag.replace("_", "-"))


def _predict_paths(args) -> None:
    _exists(args.run, "--run")
    _exists(args.model, "--model")
    for path in args.paths:
        _exists(path, "image")


def _export_paths(args) -> None:
    RunDir.open(args.run)  # a one-line UserError naming it
    _exists(args.evaluation, "--evaluation")


def _dashboard_dirs(args) -> None:
    _runs_and_dirs(args)
    if args.group:
        _exists(args.runs_dir, "--runs-dir")


# name -> (its parser, the check of the paths it names); `cxr.cli.main` calls `check`.
PARSERS = {
    "evaluate": (evaluate, _runs_and_dirs),
    "predict": (predict, _predict_paths),
    "dashboard": (dashboard, _dashboard_dirs),
    "export": (export_cli.parser, _export_paths),  # one parser, its module's own
    "speed": (speed, None),
    "bench": (bench, None),
    "bench-scale": (bench_scale, None),
    "saliency": (saliency, _runs_and_dirs),
}


def check(name: str, argv: list[str]) -> None:
    """Reads subcommand `name`'s command line before the frameworks start.

    Exits as argparse does for `--help` (0) and for a usage error (2, with the usage).

    Raises:
        UserError: for a run directory or input path that does not exist, naming it.
    """
    if name in PARSERS:
        build, check_paths = PARSERS[name]
        args = build().parse_args(argv)
        if check_paths:
            check_paths(args)
