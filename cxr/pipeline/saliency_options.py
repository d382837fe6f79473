"""`cxr saliency`'s methods and their options, checked before a model is loaded.

--methods gradcam ig ...        the registered methods (`cxr.saliency.methods.METHODS`)
--option ig.steps=16            METHOD.NAME=VALUE, the value read as JSON where it is
"""

import json

from cxr.errors import UserError
from cxr.saliency.methods import METHODS


def check_methods(names, options):
    """Raises a one-line `UserError` for an unknown method or an option it does not take."""
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise UserError(
            f"unknown saliency method {', '.join(unknown)}; known: {', '.join(METHODS)}"
        )
    for name, values in options.items():
        if name not in names:
            raise UserError(f"--option {name}.*: {name} is not among --methods {' '.join(names)}")
        wrong = sorted(set(values) - set(METHODS[name].defaults))
        if wrong:
            known = ", ".join(sorted(METHODS[name].defaults))
            raise UserError(f"--option {name}.{wrong[0]}: {name} takes {known}")


def parse_options(items):
    """`["ig.steps=16", "occlusion.stride=32"]` -> {"ig": {"steps": 16}, ...}; JSON values."""
    options = {}
    for item in items or ():
        key, sep, text = item.partition("=")
        method, dot, name = key.rpartition(".")
        if not (sep and dot and method and name):
            raise UserError(f"--option {item!r}: write METHOD.NAME=VALUE, e.g. ig.steps=16")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        options.setdefault(method, {})[name] = value
    return options
