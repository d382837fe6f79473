"""Evaluators: small objects that each turn a split's predictions into one `Result`,
chosen by the run's config, in the style of big_vision's `config.evals`.

`Evaluator` (`_base.py`) states the protocol: `pairs` and `add` (the Grad-CAM maps an
evaluator asks for; no-ops by default), `result` (its files, W&B items and text) and
`sections` (its panels in the W&B view, `cxr.pipeline.dashboard`; none by default).
Evaluators never write: `cxr.tracking.writer` does.

`eval.evaluators` (experiments/common.py) maps a name of your choosing to settings:

    c.eval.evaluators.galleries = dict(type="galleries", per_kind=8)

`type` (default: the name itself) is one of `names()`: a module of this package
(galleries.py is "galleries"; listed without importing it), a class registered with
`@register("name")` anywhere, or "package.module:Class". The other settings are the
class's keyword arguments; `seed` is the run's seed unless set. Evaluators run in the
order of their names (a ConfigDict and config.json sort keys). A run saved before the
field gets `default_spec` of its `eval.num_bootstrap` and `eval.gallery_per_kind`.

This module imports no framework and none of the evaluators (PEP 562 loads
`Classification`, `Galleries` and `Localization` on first use), so `cxr experiment`
checks the names in a fraction of a second.
"""

import importlib
import importlib.util
import inspect
import pkgutil

from cxr.errors import UserError
from cxr.evaluation.evaluators._base import Evaluator, panel

__all__ = ["Evaluator", "panel", "register", "names", "from_config", "default", "check"]

_REGISTERED = {}  # name -> class, filled by `register` as modules are imported
_CLASSES = {"Classification": "classification", "Galleries": "galleries"}
_CLASSES["Localization"] = "localization"  # the old `evaluators.<Class>` names
_CLASSES["Calibration"] = "calibration"
_CLASSES["Subgroups"] = "subgroups"


def register(name):
    """Class decorator: the `Evaluator` subclass is the evaluator type `name`.

    Raises:
        ValueError: when `name` is another class's, or a module of this package that
            does not define the class (a built-in evaluator cannot be shadowed), or a
            module of this package registers under another name than its file's.
    """

    def add(cls):
        own = f"{__name__}.{name}"
        if name in _packaged() and cls.__module__ != own:
            raise ValueError(f"evaluator {name!r} is {own}'s; choose another name")
        if cls.__module__.startswith(f"{__name__}.") and cls.__module__ != own:
            raise ValueError(f"{cls.__module__} must register as its file's name, not {name!r}")
        known = _REGISTERED.get(name)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise ValueError(f"evaluator {name!r} is already {known.__qualname__}")
        _REGISTERED[name] = cls
        return cls

    return add


def _packaged() -> set:
    """The evaluator modules of this package, by name, without importing them."""
    return {m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")}


def names() -> list:
    """Every evaluator type by name, sorted: this package's and those registered."""
    return sorted(_packaged() | set(_REGISTERED))


def _type(key, settings) -> str:
    return (settings or {}).get("type") or key


def _unknown(key, kind, why="unknown evaluator type") -> UserError:
    return UserError(
        f"eval.evaluators.{key}: {why} {kind!r}; registered: {', '.join(names())} "
        f"(or 'package.module:Class'; see cxr/evaluation/evaluators/__init__.py)"
    )


def check(spec) -> None:
    """Raises a `UserError` for a type in `spec` (`eval.evaluators`) that is not there;
    imports no evaluator (a "module:Class" type's module is looked up, not run)."""
    for key, settings in sorted(spec.items()):
        kind = _type(key, settings)
        if ":" in kind:
            module = kind.partition(":")[0]
            try:
                found = importlib.util.find_spec(module)
            except (ImportError, ValueError):  # its parent package is missing too
                found = None
            if found is None:
                raise _unknown(key, kind, "no module for")
        elif kind not in names():
            raise _unknown(key, kind)


def evaluator_class(kind, key=None):
    """The class of evaluator type `kind` (a name, or "package.module:Class").

    Raises:
        UserError: for an unknown type; `key` names its `eval.evaluators` entry.
    """
    key = key or kind
    if ":" in kind:
        module, _, attribute = kind.partition(":")
        try:
            return getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError):
            raise _unknown(key, kind, "cannot import") from None
    if kind not in _REGISTERED and kind in _packaged():
        importlib.import_module(f"{__name__}.{kind}")  # its `register` adds it
    if kind not in _REGISTERED:
        raise _unknown(key, kind)
    return _REGISTERED[kind]


def from_config(spec, *, seed) -> list:
    """The evaluators `spec` asks for, in the order of their names.

    Args:
        spec: `eval.evaluators`: name -> settings (a dict: `type` and keyword arguments).
        seed: the run's seed, passed to evaluators that take `seed` and were not given one.

    Raises:
        UserError: for an unknown type, or settings the class does not take; before any
            evaluator is made.
    """
    check(spec)
    classes = {key: evaluator_class(_type(key, s), key) for key, s in spec.items()}
    chosen = {}
    for key in sorted(spec):
        settings = {k: v for k, v in (spec[key] or {}).items() if k != "type"}
        parameters = inspect.signature(classes[key]).parameters
        if "seed" in parameters:
            settings.setdefault("seed", seed)
        try:
            inspect.signature(classes[key]).bind(**settings)
        except TypeError as e:
            takes = ", ".join(parameters) or "no settings"
            raise UserError(
                f"eval.evaluators.{key}: {e} ({classes[key].__name__} takes: {takes})"
            ) from None
        chosen[key] = settings
    return [classes[key](**settings) for key, settings in chosen.items()]


def default_spec(*, num_bootstrap, gallery_per_kind) -> dict:
    """`eval.evaluators` of every run so far: the AUROC report, galleries, localization,
    subgroups (experiments/common.py writes the same; a test holds them equal)."""
    return {
        # ECE, MCE, Brier before and after temperature scaling; the temperatures.
        "calibration": {"type": "calibration", "num_bootstrap": num_bootstrap},
        "classification": {"type": "classification", "num_bootstrap": num_bootstrap},
        "galleries": {"type": "galleries", "per_kind": gallery_per_kind},
        "localization": {"type": "localization"},
        # Skips itself, with one line, where the split has no sex, age or view.
        "subgroups": {"type": "subgroups", "num_bootstrap": num_bootstrap},
    }


def spec_of(eval_fields: dict) -> dict:
    """A run's `eval.evaluators`; for a run saved before the field, `default_spec` of its
    `eval.num_bootstrap` and `eval.gallery_per_kind`."""
    if "evaluators" in eval_fields:
        return eval_fields["evaluators"]
    return default_spec(
        num_bootstrap=eval_fields["num_bootstrap"],
        gallery_per_kind=eval_fields["gallery_per_kind"],
    )


def default(*, num_bootstrap, seed, gallery_per_kind) -> list:
    """The evaluators of a default run: `default_spec`'s."""
    spec = default_spec(num_bootstrap=num_bootstrap, gallery_per_kind=gallery_per_kind)
    return from_config(spec, seed=seed)


def __getattr__(name):
    """`evaluators.Classification` etc.: the built-in classes, imported on first use."""
    if name in _CLASSES:
        return evaluator_class(_CLASSES[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
