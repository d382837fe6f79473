"""Row 10 of `make bench`: cold start, each command line in a fresh interpreter as a
user's shell runs it (start-up included).

- Every subcommand of `cxr` answers `--help` and an argument error (an unknown flag) in
  under 2 s: the row's figure is the slowest subcommand's, named in `slowest`, with every
  subcommand's seconds in `per_command`.
- `cxr score` on one random probability per label for every image of NIH's official test
  list with 1,000 patient resamples finishes in under 10 s from a cold start (row 7
  times the same scoring inside a warm process).

Both are in rate form, as row 7: the figure is runs (or images) per second, the baseline
the rate that just meets the goal, so the ratio reads goal seconds / seconds (>= 1 meets
it). The warm-up run is a fresh process too: it fills the file cache, as any second run
of a command on a machine would find it.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys

from cxr.bench import score_rows
from cxr.bench.measure import rate, row, timed

HELP_GOAL_SECONDS = 2
SCORE_GOAL_SECONDS = score_rows.GOAL_SECONDS
# The subcommands a check run (`--scale` below 1) times: TFDS's, a framework one, a pure one.
CHECK_COMMANDS = ("data", "predict", "score")
ERROR_FLAG = "--no-such-flag"
# The one table of subcommands is cxr.cli.main's, a layer above the bench: asked in a child.
LIST_COMMANDS = "import json; from cxr.cli.main import COMMANDS; print(json.dumps(list(COMMANDS)))"


# Where the children keep their bytecode when this process was told to write none.
_pycache = [None]


def environment() -> dict:
    """A user's environment for the child, with W&B off (nothing here logs).

    Under `PYTHONDONTWRITEBYTECODE` (as on some shared machines) every fresh process
    would compile each module it imports, seconds that an installed package (pip writes
    its bytecode) never pays: the children then keep bytecode under the run's own
    `PYTHONPYCACHEPREFIX`, filled by the first run, outside the repository and the venv.
    """
    env = {**os.environ, "WANDB_MODE": "disabled"}
    if env.pop("PYTHONDONTWRITEBYTECODE", None) is not None and _pycache[0] is not None:
        env["PYTHONPYCACHEPREFIX"] = str(_pycache[0])
    return env


def cxr(*argv, cwd=None) -> int:
    """Runs `python -m cxr argv...` in a fresh interpreter, output discarded; its exit code."""
    result = subprocess.run(
        [sys.executable, "-m", "cxr", *argv], capture_output=True, cwd=cwd, env=environment()
    )
    return result.returncode


def bytecode() -> str:
    """How the children found their bytecode (recorded in the rows)."""
    if _pycache[0] is not None and "PYTHONDONTWRITEBYTECODE" in os.environ:
        return "compiled by the first run into the run's own PYTHONPYCACHEPREFIX"
    return "as this Python writes it (beside the sources)"


def subcommands() -> list[str]:
    """Every subcommand of `cxr`, in its table's order (`cxr.cli.main.COMMANDS`)."""
    result = subprocess.run(
        [sys.executable, "-c", LIST_COMMANDS], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def command_seconds(names, repeats) -> dict:
    """{name: {"help": timed, "error": timed, "codes": [help's, error's exit code]}}.

    Raises:
        RuntimeError: when `--help` does not exit 0 or the argument error does not exit 2:
            the row would time something else than the answer.
    """
    seconds = {}
    for name in names:
        codes = [cxr(name, "--help"), cxr(name, ERROR_FLAG)]
        if codes != [0, 2]:
            raise RuntimeError(f"cxr {name}: --help / {ERROR_FLAG} exited {codes}, not [0, 2]")
        seconds[name] = {
            "help": timed(lambda n=name: cxr(n, "--help"), repeats, warm_up=lambda: None),
            "error": timed(lambda n=name: cxr(n, ERROR_FLAG), repeats, warm_up=lambda: None),
        }
    return seconds


def help_row(names, repeats):
    """Row 10a: the slowest `--help` or argument error of `names`, against 2 s."""
    seconds = command_seconds(names, repeats)
    case = max(
        ((n, kind) for n in seconds for kind in ("help", "error")),
        key=lambda c: seconds[c[0]][c[1]]["median"],
    )
    slowest = seconds[case[0]][case[1]]
    goal = {k: 1 / HELP_GOAL_SECONDS for k in ("median", "min", "max")}
    label = "--help" if case[1] == "help" else ERROR_FLAG
    result = row(
        f"10. cold start: the slowest of {len(names)} subcommands' --help and {ERROR_FLAG}, "
        f"fresh process, vs answered in {HELP_GOAL_SECONDS} s",
        rate(1, slowest),
        goal,
        goal=1,
        unit="runs/s",
    )
    per_command = {n: {k: s[k]["median"] for k in ("help", "error")} for n, s in seconds.items()}
    return {**result, "slowest": f"cxr {case[0]} {label}", "note": f"slowest: cxr {case[0]} {label}", "slowest_seconds": slowest,
            "per_command": per_command, "bytecode": bytecode()}  # fmt: skip


def score_row(nih_dir, work, resamples, repeats):
    """Row 10b: a cold `cxr score` on NIH's test list in a fresh process, against 10 s."""
    work = pathlib.Path(work)
    work.mkdir(parents=True, exist_ok=True)
    n = score_rows.write_predictions(nih_dir, work / "predictions.csv")
    out = work / "scored"

    def score():
        shutil.rmtree(out, ignore_errors=True)  # `cxr score` refuses an existing OUT
        argv = ["predictions.csv", "--out", "scored", "--nih-dir", str(nih_dir)]
        code = cxr("score", *argv, "--num-bootstrap", str(resamples), cwd=work)
        if code != 0:
            raise RuntimeError(f"cxr score exited {code} in {work}")

    seconds = timed(score, repeats)
    goal = {k: n / SCORE_GOAL_SECONDS for k in ("median", "min", "max")}
    result = row(
        f"10. cold start: cxr score in a fresh process, {n:,} test predictions, "
        f"{resamples:,} resamples, vs all in {SCORE_GOAL_SECONDS} s",
        rate(n, seconds),
        goal,
        goal=1,
    )
    return {**result, "bytecode": bytecode()}


def startup_rows(work, sizes, sample_dir):
    """Row 10: cold `--help`/argument errors of every subcommand (a few in a check run),
    and a cold `cxr score` where NIH's metadata and Google's expert folder are at hand."""
    _pycache[0] = pathlib.Path(work) / "pycache"
    names = subcommands()
    if sizes.is_check:
        names = [n for n in names if n in CHECK_COMMANDS]
    result = [help_row(names, sizes.few_repeats)]
    nih_dir = score_rows.nih_dir_for_bench(sample_dir, work) if sample_dir else None
    if nih_dir is None:
        print("10. cold cxr score: skipped, no NIH metadata with Google's expert folder beside it")
        return result
    return [*result, score_row(nih_dir, pathlib.Path(work) / "cold_score", sizes.resamples,
                               sizes.few_repeats)]  # fmt: skip
