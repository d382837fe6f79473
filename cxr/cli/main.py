"""`cxr`: one command for everything `make` does (also `python -m cxr`).

    cxr --help                      every subcommand
    cxr <subcommand> --help         its options and an example

The backends' quiet start-up and `CXR_VIRTUAL_CPUS` (`cxr.runtime.startup`) run here,
before the subcommand's module is imported, so no library module has an import side
effect. `cxr --help` starts no framework.
"""

import dataclasses
import difflib
import importlib
import sys

from cxr import __version__
from cxr.errors import EXIT_CODE


@dataclasses.dataclass(frozen=True)
class Command:
    """One subcommand: the module that runs it, a one-line summary and an example.

    `starts_itself`: the module reads its arguments before calling `startup.start()`
    itself, so a mistake there is one line without the frameworks' start-up.
    """

    module: str  # imported only when the subcommand runs; its `main(argv)` is called
    summary: str
    example: str
    starts_itself: bool = False


# The one table of subcommands: `cxr --help`, dispatch and the tests all read it.
COMMANDS = {
    "experiment": Command(
        "cxr.cli.experiment",
        "train and evaluate a named experiment (experiments/NAME.py)",
        "cxr experiment quickstart --config.train.finetune_epochs=1",
        starts_itself=True,
    ),
    "evaluate": Command(
        "cxr.pipeline.evaluate",
        "re-evaluate a saved run, on another dataset or split if asked",
        "cxr evaluate --run runs/quickstart/<run id> --split test",
    ),
    "compare": Command(
        "cxr.evaluation.compare_runs",
        "paired comparison of evaluations on the same images",
        "cxr compare runs/a/<id> runs/b/<id> --out comparisons/ab",
    ),
    "predict": Command(
        "cxr.inference.predict",
        "probabilities and Grad-CAM overlays for image or DICOM files",
        "cxr predict scans/ --run runs/frozen_head/<run id> --out predictions/",
    ),
    "dashboard": Command(
        "cxr.pipeline.dashboard",
        "save a W&B workspace view of a run or an experiment",
        "cxr dashboard --run runs/quickstart/<run id>",
    ),
    "data": Command(
        "cxr_tfds.tfds_build",
        "build cxr14_subset from the NIH files (tfds build's flags)",
        "cxr data --config=224 --manual_dir=~/cxr14",
    ),
    "speed": Command(
        "cxr.runtime.speed",
        "show (or re-measure) the precision and XLA that 'auto' picks here",
        "cxr speed --probe",
    ),
    "bench": Command(
        "cxr.bench.rows",
        "speed of each stage against its limits (bench/results.json)",
        "cxr bench --scale 1",
    ),
    "bench-scale": Command(
        "cxr.bench.scale",
        "time and peak memory of every stage at growing dataset sizes",
        "cxr bench-scale --sizes 1500,15000",
    ),
    "score": Command(
        "cxr.evaluation.score",
        "score any model's per-image probabilities (CSV) as a run's evaluation",
        "cxr score preds.csv --out scores/mine --labels expert_all",
    ),
    "readers": Command(
        "cxr.evaluation.readers",
        "a scored evaluation against the individual radiologists",
        "cxr readers scores/mine --out scores/mine_readers",
    ),
    "saliency": Command(
        "cxr.pipeline.saliency_study",
        "saliency methods scored alike against NIH's boxes, with sanity checks",
        "cxr saliency --run runs/quickstart/<run id> --methods gradcam gradcam++ ig",
    ),
    "type1": Command(
        "cxr.stats.type1",
        "measure each paired test's type-I error by simulation (docs/results/type1.json)",
        "cxr type1 --out docs/results/type1.json",
    ),
}


def usage() -> str:
    """`cxr --help`: the version and every subcommand with its summary."""
    width = max(map(len, COMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {c.summary}" for name, c in COMMANDS.items())
    return (
        f"cxr {__version__}: multi-label chest X-ray classification (NIH ChestX-ray14)\n\n"
        f"usage: cxr <subcommand> [options]   (cxr <subcommand> --help for its options)\n\n"
        f"subcommands:\n{rows}\n"
    )


def main(argv=None) -> int:
    """`cxr [--help | --version | <subcommand> ...]`: the exit code.

    An unknown subcommand is one stderr line, with the closest name when there is one.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] == "--version":
        print(__version__)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        close = difflib.get_close_matches(name, COMMANDS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        print(f"error: unknown subcommand {name!r}{hint} (cxr --help lists them)", file=sys.stderr)
        return EXIT_CODE
    return run(name, rest)


def run(name: str, argv: list[str]) -> int:
    """Runs subcommand `name`: start-up first, then its module's `main(argv)`."""
    command = COMMANDS[name]
    if not command.starts_itself:
        from cxr.runtime import startup

        startup.start()
    sys.argv = [f"cxr {name}", *argv]  # argparse's and absl's program name
    module = importlib.import_module(command.module)
    try:
        code = module.main(argv)
    except SystemExit as e:
        if _asks_for_help(argv) and e.code in (0, None):
            print(f"\nexample:\n  {command.example}")
        raise
    if _asks_for_help(argv):
        print(f"\nexample:\n  {command.example}")
    return code or 0


def _asks_for_help(argv) -> bool:
    """Whether the subcommand's own help was asked for (argparse exits after printing it)."""
    return any(a in ("-h", "--help") for a in argv)


def predict_alias() -> int:
    """`cxr-predict ...`, kept as an alias of `cxr predict ...`."""
    return run("predict", sys.argv[1:])
