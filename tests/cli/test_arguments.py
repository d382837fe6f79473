"""`cxr.cli.arguments` reads each framework subcommand's command line as its module does.

The `cxr` command reads these command lines before the frameworks start, with parsers of
its own; each module's `main` reads them again with its parser. Here both parsers are
built and compared option for option (names, arity, required, choices, defaults and the
mutually exclusive groups), so that an option added to one and not the other fails.
"""

import json
import pathlib
import subprocess
import sys

from cxr.cli import arguments
from cxr.cli.main import COMMANDS

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Describes a parser's options as JSON-able rows: what a command line may hold.
DESCRIBE = '''
def describe(parser):
    """Each option's names, dest, arity, required, choices, default and simple type."""
    rows = []
    for a in parser._actions:
        kind = a.type if a.type in (None, int, float, str) else "function"
        rows.append([a.option_strings, a.dest, str(a.nargs), a.required,
                     sorted(map(str, a.choices)) if a.choices else None,
                     repr(a.default), getattr(kind, "__name__", kind)])
    groups = [[sorted(x.dest for x in g._group_actions), g.required]
              for g in parser._mutually_exclusive_groups]
    return {"options": rows, "groups": groups}
'''

# Builds each module's own parser: its `main` is run until it parses, then stopped.
MODULE_PARSERS = (
    DESCRIBE
    + """
import argparse, importlib, json, sys

class Parsed(Exception):
    pass

def stop(parser, *args, **kwargs):
    raise Parsed(parser)

argparse.ArgumentParser.parse_args = stop
found = {}
for name, module in json.loads(sys.argv[1]).items():
    try:
        importlib.import_module(module).main([])
    except Parsed as e:
        found[name] = describe(e.args[0])
print(json.dumps(found))
"""
)


def test_each_parser_here_accepts_what_its_module_accepts():
    modules = {name: COMMANDS[name].module for name in arguments.PARSERS}
    result = subprocess.run(
        [sys.executable, "-c", MODULE_PARSERS, json.dumps(modules)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    theirs = json.loads(result.stdout.splitlines()[-1])
    assert sorted(theirs) == sorted(arguments.PARSERS)
    namespace = {}
    exec(DESCRIBE, namespace)  # the same description, of the parsers here
    for name, (build, _) in arguments.PARSERS.items():
        ours = json.loads(json.dumps(namespace["describe"](build())))
        assert ours == theirs[name], f"cxr {name}: cxr.cli.arguments differs from {modules[name]}"


def test_only_subcommands_needing_frameworks_are_read_here():
    framework_commands = {
        name for name, c in COMMANDS.items() if c.frameworks and not c.starts_itself
    }
    assert set(arguments.PARSERS) == framework_commands
