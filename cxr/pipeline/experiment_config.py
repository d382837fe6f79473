"""`cxr experiment NAME[:variant] [--config.x.y=value ...]`: the command line read into
a locked config before any framework starts.

`make experiment NAME=frozen_head ARGS="--config.train.head_epochs=5"` calls that. The
experiment's config (experiments/NAME.py) is locked, so a misspelt override fails
loudly, and every mistake on the command line (an unknown experiment, variant or field,
a value of the wrong type) is one line in a fraction of a second, not after
TensorFlow's start-up: `cxr.cli.experiment` parses first. Then
`cxr.pipeline.experiment.run` trains. These two are the only modules that read configs;
the library below them takes plain arguments.
"""

import difflib
import importlib
import pkgutil

from absl import flags
from ml_collections import config_flags

from cxr import configs
from cxr.errors import UserError
from cxr.evaluation import evaluators
from cxr.model import backbones


def available() -> list[str]:
    """Names of the experiments in experiments/."""
    return sorted(m.name for m in pkgutil.iter_modules(configs.__path__) if m.name != "common")


def load_config(spec: str):
    """The locked config of `NAME` or `NAME:variant`.

    Raises:
        UserError: for an unknown NAME (listing the available ones) or variant.
    """
    name, _, variant = spec.partition(":")
    if name not in available():
        raise UserError(f"unknown experiment {name!r}; available: {', '.join(available())}")
    try:
        return importlib.import_module(f"cxr.configs.{name}").get_config(variant or None)
    except ValueError as e:  # an unknown variant; the experiment says which exist
        raise UserError(str(e)) from None


# Fields that were renamed: old name -> new name, said in the error.
RENAMED = {"data.name": "data.dataset"}


def check_field(config, arg: str) -> None:
    """Raises a `UserError` unless `arg` is `--config.<an existing field>=...`."""
    if not arg.startswith("--config."):
        raise UserError(f"{arg!r}: overrides take the form --config.<field>=<value>")
    field = arg[len("--config.") :].split("=", 1)[0]
    if field in RENAMED:
        raise UserError(f"{arg}: {field} is now {RENAMED[field]} (--config.{RENAMED[field]}=...)")
    path = field.split(".")
    node = config
    for depth, key in enumerate(path):
        fields = list(node.keys()) if hasattr(node, "keys") else []
        if key not in fields:
            where = ".".join(path[:depth]) or "the config"
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f"; did you mean {'.'.join([*path[:depth], close[0]])}?" if close else ""
            raise UserError(
                f"{arg}: {where} has no field {key!r}{hint} (see experiments/common.py)"
            )
        node = node[key]


def parse(argv: list[str]):
    """The locked config `argv` asks for, or None after printing the usage for --help.

    Args:
        argv: `NAME[:variant]` then `--config.<field>=<value>` overrides.

    Raises:
        UserError: for anything wrong in `argv`, naming it.
    """
    if not argv or argv[0] in ("-h", "--help"):
        print(
            f"usage: cxr experiment NAME[:variant] [--config.<field>=<value> ...]\n\n"
            f"NAME: {', '.join(available())} (experiments/NAME.py; ':smoke' is seconds long)\n"
            f"fields: experiments/common.py documents every one"
        )
        return None
    if argv[0].startswith("-"):
        raise UserError(
            f"usage: cxr experiment NAME[:variant] [--config.x=y ...]; "
            f"NAME is one of: {', '.join(available())}"
        )
    config = load_config(argv[0])
    for arg in argv[1:]:
        check_field(config, arg)
    config_flags.DEFINE_config_dict("config", config, lock_config=True)
    try:
        flags.FLAGS(["cxr experiment", *argv[1:]])
    except flags.Error as e:  # a value of the wrong type
        raise UserError(f"{e}; see experiments/common.py for every field") from None
    evaluators.check(flags.FLAGS.config.eval.evaluators)  # an unknown one, listing the names
    config = flags.FLAGS.config
    backbones.get(config.model.backbone)  # an unknown backbone, listing the registered ones
    return config


def untrained_backbone_warning(config) -> str | None:
    """The warning for a run whose backbone keeps random weights, or None.

    `model.weights=None` with no fine-tuning trains only a head on a frozen random
    backbone: its features carry nothing learned, so AUROC stays near chance (0.467
    macro on a newcomer's frozen_head run, issue 23).
    """
    weights, t = config.model.weights, config.train
    if weights not in (None, "None", "none", "") or t.finetune_epochs > 0:
        return None
    return (
        "warning: model.weights=None and train.finetune_epochs=0: only the head trains, on a "
        "frozen random backbone whose features carry nothing learned (expect AUROC near 0.5). "
        "Offline with real data, train the backbone: make experiment NAME=finetune "
        'ARGS="--config.model.weights=None", or pass a local ImageNet weights file'
    )
