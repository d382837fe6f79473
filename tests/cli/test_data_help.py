"""`cxr data --help` from the kept text (`cxr.cli.data_help`): the same text TFDS's parser
prints, the same flags it accepts, and TFDS not imported to say so.

The reference is TFDS's own build parser, built here as `tfds build` builds it
(`cli_utils.make_flags_parser`: simple_parsing's ArgumentParser with `build.Args`).
"""

import contextlib
import io

import pytest
import simple_parsing
from tensorflow_datasets.scripts.cli import build

from cxr.cli import data_help, data_help_text

REGENERATE = "stale: regenerate it with `.venv/bin/python -m cxr.cli.data_help`"


def tfds_parser():
    """TFDS's `tfds build` parser, as `cli_utils.make_flags_parser` makes it."""
    parser = simple_parsing.ArgumentParser(prog=data_help.PROG, allow_abbrev=False)
    parser.add_arguments(build.Args, dest="args")
    parser._preprocessing()  # simple_parsing adds the dataclass's flags here, lazily
    return parser


def spelled_alike(text: str) -> str:
    # simple_parsing lists a flag's two spellings (--num_processes, --num-processes) in
    # an order that changes from one interpreter to the next: compare them as one.
    return data_help.OPTION.sub(lambda m: data_help._normal(m.group(1)), text)


def test_the_kept_text_is_what_the_installed_parser_prints():
    assert data_help.applies(), (
        f"cxr/cli/data_help_text.py was made under other versions: {REGENERATE}"
    )
    live = data_help.live_help()
    assert live.startswith(f"usage: {data_help.PROG} ")
    assert spelled_alike(live) == spelled_alike(data_help_text.HELP), REGENERATE


def test_every_flag_of_the_parser_is_known_and_no_other():
    option_strings = set(tfds_parser()._option_string_actions)
    assert {"--manual_dir", "--config", "-c", "--overwrite", "--help"} <= option_strings
    assert data_help.unknown_flags(sorted(option_strings)) == []
    assert data_help.unknown_flags(["--manual_dir=/x", "-c224", "--data-dir", "d"]) == []
    made_up = ["--no-such-flag", "--manual", "--config_name=224", "-z"]
    assert data_help.unknown_flags(["cxr14_subset", *made_up, "--", "--after"]) == made_up
    for flag in made_up:  # the parser refuses each too
        with contextlib.redirect_stderr(io.StringIO()), pytest.raises(SystemExit) as e:
            tfds_parser().parse_args([flag])
        assert e.value.code == 2, flag


def test_help_and_unknown_flags_exit_as_argparse_would(capsys):
    with pytest.raises(SystemExit) as e:
        data_help.answer(["cxr14_subset", "--help"])
    assert e.value.code == 0 and capsys.readouterr().out == data_help_text.HELP
    with pytest.raises(SystemExit) as e:
        data_help.answer(["--config=224", "--no-such-flag"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith(f"usage: {data_help.PROG} ")
    assert err.splitlines()[-1] == "cxr data: error: unrecognized arguments: --no-such-flag"
    assert data_help.answer(["--config=224", "--manual_dir", "/x"]) is None  # TFDS's to run


def test_other_versions_leave_it_to_tfds(monkeypatch, capsys):
    monkeypatch.setattr(data_help_text, "VERSIONS", {**data_help_text.VERSIONS, "python": "2.7"})
    assert data_help.answer(["--help"]) is None and capsys.readouterr().out == ""
