"""`cxr data --help` and its unknown-flag errors, answered without importing TFDS (pure).

`cxr data` is TFDS's `tfds build` (`cxr_tfds.tfds_build`), whose flags only TFDS's
parser knows; importing TFDS and the builders (pydicom among them) to print them took
2-6 s. The text that parser prints for `--help` is kept in `cxr.cli.data_help_text`,
written by `python -m cxr.cli.data_help` from the parser itself, together with the
versions it was made with; tests/cli/test_data_help.py checks it equal to what the
installed parser prints. It is used only on those versions: on any other TFDS, Python or
simple_parsing, everything goes to TFDS's parser as before (slower, never wrong).

Only the flag names are checked here; a known flag's value is TFDS's to check.
"""

import contextlib
import importlib.metadata
import io
import json
import os
import pathlib
import platform
import re
import sys

from cxr.cli import data_help_text

PROG = "cxr data"
COLUMNS = "80"  # the width the text is written at (argparse reads $COLUMNS)
# What the text depends on: the parser (TFDS), its library, and argparse (Python's).
VERSIONED = ("tensorflow-datasets", "simple_parsing")
OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")


def versions() -> dict:
    """The installed versions the help text depends on (distribution -> version)."""
    found = {"python": ".".join(platform.python_version_tuple()[:2])}
    for name in VERSIONED:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def applies() -> bool:
    """Whether the kept text is the installed parser's (same versions it was made with)."""
    return versions() == data_help_text.VERSIONS


def _normal(flag: str) -> str:
    """A flag as argparse matches it: its name before `=`, `_` and `-` alike (simple_parsing
    accepts both spellings), a short flag's first letter only (`-c224` is `-c 224`)."""
    name = flag.split("=", 1)[0]
    if not name.startswith("--"):
        return name[:2]
    return "--" + name[2:].replace("-", "_")


def known_flags(text: str = data_help_text.HELP) -> set[str]:
    """Every option string the help text lists (both spellings of each, `--noX` included)."""
    return {_normal(f) for f in OPTION.findall(text)}


def unknown_flags(argv: list[str], text: str = data_help_text.HELP) -> list[str]:
    """The arguments of `argv` that look like flags and are none of `text`'s."""
    known = known_flags(text)
    flags = []
    for arg in argv:
        if arg == "--":
            break  # what follows is positional
        if arg.startswith("-") and len(arg) > 1 and not arg[1].isdigit():
            flags.append(arg)
    return [f for f in flags if _normal(f) not in known]


def usage(text: str = data_help_text.HELP) -> str:
    """The help text's usage block (its lines up to the first blank one)."""
    return text.split("\n\n", 1)[0] + "\n"


def answer(argv: list[str] | None) -> None:
    """Answers `--help` and unknown flags from the kept text, exiting as argparse would.

    Does nothing (TFDS's parser answers) when the text does not apply to the installed
    versions, or when `argv` has neither.

    Raises:
        SystemExit: 0 after the help, 2 after an unknown flag's usage error.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if not applies():
        return
    options = argv[: argv.index("--")] if "--" in argv else argv
    if "-h" in options or "--help" in options:
        sys.stdout.write(data_help_text.HELP)
        raise SystemExit(0)
    unknown = unknown_flags(argv)
    if unknown:
        sys.stderr.write(usage())
        sys.stderr.write(f"{PROG}: error: unrecognized arguments: {' '.join(unknown)}\n")
        raise SystemExit(2)


def live_help() -> str:
    """What TFDS's parser prints for `cxr data --help` at `COLUMNS` wide (imports TFDS)."""
    from cxr_tfds import tfds_build

    saved = sys.argv[:], os.environ.get("COLUMNS")
    sys.argv[:] = [PROG]
    os.environ["COLUMNS"] = COLUMNS
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            tfds_build.main(["--help"])
    finally:
        sys.argv[:] = saved[0]
        if saved[1] is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved[1]
    return out.getvalue()


def module_text(help_text: str, found: dict) -> str:
    """The source of `cxr.cli.data_help_text` for `help_text` made under `found` versions
    (the text as a triple-quoted string: it holds neither backslashes nor triple quotes)."""
    if "\\" in help_text or '"""' in help_text:
        raise ValueError("the help text needs escaping: write it with repr() instead")
    return (
        '"""What TFDS\'s parser prints for `cxr data --help` (generated: do not edit).\n\n'
        "Written by `python -m cxr.cli.data_help` from the installed parser; `cxr.cli.data_help`\n"
        "uses it only under `VERSIONS`, and tests/cli/test_data_help.py checks it.\n"
        '"""\n\n'
        f"VERSIONS = {json.dumps(found)}\n\n"
        f'HELP = """\\\n{help_text}"""\n'
    )


if __name__ == "__main__":
    target = pathlib.Path(data_help_text.__file__)
    target.write_text(module_text(live_help(), versions()))
    print(f"Written: {target}")
