"""The `cxr` command: its help, every subcommand's help, and its one-line errors.

Each check runs in a fresh interpreter, as a user's `cxr` does, so that what a command
imports is seen; every subcommand's help shares one interpreter, to start TensorFlow once.
"""

import json
import os
import pathlib
import re
import subprocess
import sys

from cxr import __version__
from cxr.cli.main import COMMANDS, main

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _python(*args, env=None, timeout=120) -> subprocess.CompletedProcess:
    """`python *args` in the repository, W&B kept offline; the finished process."""
    env = {**os.environ, "WANDB_MODE": "offline", **(env or {})}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout
    )


def test_help_lists_every_subcommand():
    result = _python("-m", "cxr", "--help")
    assert result.returncode == 0, result.stderr
    assert f"cxr {__version__}" in result.stdout
    for name, command in COMMANDS.items():
        assert f"  {name} " in result.stdout and command.summary in result.stdout, name


# Prints the frameworks loaded after `cxr --help`, then what the help itself printed.
_HELP_PROBE = """
import contextlib, io, sys
from cxr.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main.main(["--help"])
frameworks = ("tensorflow", "jax", "keras", "tensorflow_datasets")
print(code, *sorted(m for m in sys.modules if m.split(".")[0] in frameworks))
"""


def test_help_starts_no_framework():
    result = _python("-c", _HELP_PROBE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0"]


# Every subcommand's `--help` in one interpreter: {name: [exit code, stdout]} as JSON.
_SUBCOMMAND_HELP = """
import contextlib, io, json, sys
from cxr.cli import main
results = {}
for name in main.COMMANDS:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            code = main.run(name, ["--help"])
        except SystemExit as e:
            code = e.code
    results[name] = [code, out.getvalue()]
print(json.dumps(results))
"""


def test_every_subcommand_help_shows_its_options_and_an_example():
    result = _python("-c", _SUBCOMMAND_HELP, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    helps = json.loads(result.stdout.splitlines()[-1])
    assert sorted(helps) == sorted(COMMANDS)
    for name, (code, text) in helps.items():
        assert code in (0, None), f"cxr {name} --help exited {code}"
        assert text.startswith(f"usage: cxr {name} "), text[:300]
        assert re.search(r"\[--\w", text.split("\nexample:")[0]), f"cxr {name}: no options"
        assert text.rstrip().endswith(f"example:\n  {COMMANDS[name].example}"), text[-300:]


def test_unknown_subcommand_is_one_line_with_a_suggestion():
    result = _python("-m", "cxr", "experimnet")
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: unknown subcommand 'experimnet'")
    assert "did you mean 'experiment'?" in line


# `cxr speed` under a bad CXR_VIRTUAL_CPUS: the exit code, then the frameworks and the
# subcommand's module if either was imported.
_VIRTUAL_CPUS_PROBE = """
import sys
from cxr.cli import main
try:
    main.main(["speed"])
except SystemExit as e:
    code = e.code
loaded = ("tensorflow", "jax", "keras", "cxr.runtime.speed")
print(code, *sorted(m for m in sys.modules if m in loaded))
"""


def test_bad_virtual_cpus_is_one_line_before_anything_runs():
    for value in ("abc", "0"):
        result = _python("-c", _VIRTUAL_CPUS_PROBE, env={"CXR_VIRTUAL_CPUS": value})
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stdout.split() == ["2"]
        [line] = result.stderr.splitlines()
        assert line.startswith(f"error: CXR_VIRTUAL_CPUS={value!r}: "), line


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"{__version__}\n"
