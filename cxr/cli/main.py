"""`cxr`: one command for everything `make` does (also `python -m cxr`).

    cxr --help                      every subcommand
    cxr <subcommand> --help         its options and an example

The backends' quiet start-up and `CXR_VIRTUAL_CPUS` (`cxr.runtime.startup`) run here,
before the subcommand's module is imported, so no library module has an import side
effect. They start only after the command line was read (`cxr.cli.arguments`), so that
`--help`, a typo or a missing path is answered in a second, and never for the
subcommands that touch no model (`score`, `readers`, `compare`, `type1`).
`cxr --help` starts no framework.

Output piped into a reader that stops early (`cxr predict --help | head -1`) ends the
command quietly, as it would a Unix tool, instead of with a BrokenPipe traceback.
"""

import dataclasses
import difflib
import importlib
import os
import signal
import sys

from cxr import __version__
from cxr.cli import arguments
from cxr.errors import EXIT_CODE, exits_cleanly

# A shell's exit status for a process ended by SIGPIPE (128 + the signal's number).
BROKEN_PIPE_EXIT = 128 + signal.SIGPIPE


@dataclasses.dataclass(frozen=True)
class Command:
    """One subcommand: the module that runs it, a one-line summary and an example.

    `starts_itself`: the module reads its arguments before calling `startup.start()`
    itself, so a mistake there is one line without the frameworks' start-up.
    `frameworks`: whether it needs TensorFlow, JAX or Keras at all; those that do and do
    not start themselves have their command line read first by `cxr.cli.arguments`.
    """

    module: str  # imported only when the subcommand runs; its `main(argv)` is called
    summary: str
    example: str
    starts_itself: bool = False
    frameworks: bool = True


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
        "AUROC differences of evaluations: paired on the same images, or --unpaired",
        "cxr compare runs/a/<id> runs/b/<id> --out comparisons/ab",
        frameworks=False,
    ),
    "predict": Command(
        "cxr.inference.predict",
        "probabilities and Grad-CAM overlays for image or DICOM files",
        "cxr predict scans/ --run runs/frozen_head/<run id> --out predictions/",
    ),
    "export": Command(
        "cxr.inference.export",
        "a run's model, labels, thresholds and model card as a bundle to share",
        "cxr export runs/frozen_head/<run id> --out bundles/frozen_head",
    ),
    "dashboard": Command(
        "cxr.pipeline.dashboard",
        "save a W&B workspace view of a run or an experiment",
        "cxr dashboard --run runs/quickstart/<run id>",
    ),
    "data": Command(
        "cxr.cli.data",
        "build cxr14_subset from the NIH files (tfds build's flags)",
        "cxr data cxr14_subset --config=224 --manual_dir=~/cxr14",
        starts_itself=True,
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
        frameworks=False,
    ),
    "readers": Command(
        "cxr.evaluation.readers",
        "a scored evaluation against the individual radiologists",
        "cxr readers scores/mine --out scores/mine_readers",
        frameworks=False,
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
        frameworks=False,
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
    A reader that closed the output pipe early ends it quietly (`BROKEN_PIPE_EXIT`).
    """
    try:
        try:
            return _dispatch(sys.argv[1:] if argv is None else list(argv))
        finally:
            sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
    except BrokenPipeError:
        # Python flushes stdout once more at exit: point it at nothing, or that flush
        # prints "Exception ignored ... BrokenPipeError".
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return BROKEN_PIPE_EXIT


def _dispatch(argv: list[str]) -> int:
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
    """Runs subcommand `name`: its command line read, start-up, then its module's `main(argv)`."""
    command = COMMANDS[name]
    sys.argv = [f"cxr {name}", *argv]  # argparse's and absl's program name
    try:
        code = _start_and_run(name, command, argv)
    except SystemExit as e:
        if _asks_for_help(argv) and e.code in (0, None):
            print(f"\nexample:\n  {command.example}")
        raise
    if _asks_for_help(argv):
        print(f"\nexample:\n  {command.example}")
    return code or 0


def _start_and_run(name: str, command: Command, argv: list[str]):
    """The module's `main(argv)`, after `cxr.cli.arguments` and the frameworks' start-up."""
    if command.frameworks and not command.starts_itself:
        exits_cleanly(arguments.check)(name, argv)  # --help, usage errors, missing paths
        from cxr.runtime import startup

        startup.start()
    module = importlib.import_module(command.module)
    return module.main(argv)


def _asks_for_help(argv) -> bool:
    """Whether the subcommand's own help was asked for (argparse exits after printing it)."""
    return any(a in ("-h", "--help") for a in argv)


def predict_alias() -> int:
    """`cxr-predict ...`, kept as an alias of `cxr predict ...`."""
    return main(["predict", *sys.argv[1:]])
