"""`cxr experiment`'s command line: every mistake is one line before any framework starts."""

import subprocess
import sys

import pytest

from cxr.errors import UserError
from cxr.pipeline import experiment_config

# Each a mistake `parse` finds; the last one defines absl's --config flag (once a process).
MISTAKES = [
    (["frozen_hed"], "unknown experiment 'frozen_hed'; available: "),
    (["frozen_head:smok"], "smok"),
    (["--config.seed=1"], "usage: cxr experiment NAME"),
    (["frozen_head:smoke", "config.seed=1"], "overrides take the form --config.<field>=<value>"),
    (
        ["frozen_head:smoke", "--config.train.learnig_rate=1"],
        "did you mean train.head_learning_rate?",
    ),
    (["frozen_head:smoke", "--config.data.name=cxr14_subset/224"], "data.name is now data.dataset"),
    (["frozen_head:smoke", "--config.seed=seven"], "invalid literal for int()"),
]
# In a fresh process: the `cxr` command itself, then what it imported.
COMMAND = """
import sys
from cxr.cli.main import main
argv = sys.argv[1:]
try:
    main(["experiment", *argv])
except SystemExit as end:
    assert end.code == 2, end.code
else:
    raise AssertionError(f"{argv} did not fail")
print(sorted({"tensorflow", "keras", "jax", "tensorflow_datasets"} & set(sys.modules)))
"""


@pytest.mark.parametrize(("argv", "expected"), MISTAKES[:-1])
def test_parse_names_the_mistake(argv, expected):
    with pytest.raises(UserError) as error:
        experiment_config.parse(argv)
    assert expected in str(error.value)


def test_a_mistake_is_one_line_before_any_framework_starts():
    for argv, expected in MISTAKES:
        out = subprocess.run(
            [sys.executable, "-c", COMMAND, *argv], capture_output=True, text=True, timeout=120
        )
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr[-2000:]
        assert expected in lines[0]
        assert out.stdout.strip() == "[]", (argv, out.stdout)  # no framework imported


def test_help_and_good_configs():
    assert experiment_config.parse(["--help"]) is None
    config = experiment_config.load_config("finetune:smoke")
    assert config.name == "finetune" and config.data.dataset == "cxr14_subset/synthetic"
    with pytest.raises(AttributeError):
        config.no_such_field = 1  # locked


@pytest.mark.parametrize(
    "spec, overrides, warns",
    [
        ("frozen_head", ["--config.model.weights=None"], True),  # the README's old recipe
        ("frozen_head", [], False),  # ImageNet weights: the features mean something
        ("finetune", ["--config.model.weights=None"], False),  # the backbone trains
        ("quickstart", [], False),  # random init, trained whole
    ],
)
def test_a_head_on_a_frozen_random_backbone_is_warned_before_training(spec, overrides, warns):
    config = experiment_config.load_config(spec)
    with config.unlocked():
        for override in overrides:
            field, value = override.removeprefix("--config.").split("=")
            group, name = field.split(".")
            config[group][name] = None if value == "None" else value
    warning = experiment_config.untrained_backbone_warning(config)
    assert (warning is not None) == warns
    if warns:
        assert "frozen random backbone" in warning and "NAME=finetune" in warning


def test_policy_fields_pass_only_what_is_set(tmp_path):
    from cxr.pipeline import wiring
    from cxr.tracking.rundir import RunDir

    config = experiment_config.load_config("frozen_head:smoke")
    assert wiring.label_policy(config.to_dict()) == {}  # each dataset's own defaults
    with config.unlocked():
        config.data.uncertain, config.data.readers = "u_ones", "None"  # "None" from a flag
    assert wiring.label_policy(config.to_dict()) == {"uncertain": "u_ones"}
    # A run saved before the rename reads the same: data.name is its dataset.
    old = {"name": "frozen_head", "data": {"name": "cxr14_subset/224", "test_split": "test"}}
    run = RunDir(tmp_path / "run").create(old)
    assert wiring.dataset_of(RunDir.open(run.path).config()) == "cxr14_subset/224"
    assert RunDir.open(run.path).config()["data"]["dataset"] == "cxr14_subset/224"
