"""Builds a keras.applications network on a caller's tensor, its weights loaded or refused.

Shared by the family files: `application(...)` returns the `build` function of a
`cxr.model.backbones.Backbone` for one `keras.applications` constructor.
"""

import os

from cxr.errors import UserError


def application(constructor: str, weights_file: str | None, **kwargs):
    """The `build(inputs, weights)` of `keras.applications.<constructor>`, notop.

    `input_tensor=` makes Keras build the application's layers on `inputs`, so they
    become layers of the caller's model (one flat graph), not one nested model.
    """

    def build(inputs, weights):
        import keras

        make = getattr(keras.applications, constructor)
        args = dict(include_top=False, input_tensor=inputs, input_shape=inputs.shape[1:], **kwargs)
        return load(make, args, weights, constructor, weights_file).output

    return build


def load(make, args, weights, label, weights_file):
    """`make(weights=..., **args)`, with a failed download or an unloadable file one line."""
    if weights is None or weights == "imagenet":
        try:
            return make(weights=weights, **args)
        except Exception as err:
            # Keras reports a failed download as a bare Exception("URL fetch failure on
            # <url>: ..."); anything else is not ours to rewrite.
            if "URL fetch failure" not in str(err):
                raise
            raise UserError(
                f"could not download the ImageNet weights {weights_file} ({_first_line(err)}); "
                f"pass a local copy with --config.model.weights=/path/to/{weights_file} "
                "(or put it in ~/.keras/models/), or train from scratch with "
                "--config.model.weights=None"
            ) from None
    path = os.fspath(weights)
    try:
        return make(weights=path, **args)
    except (OSError, ValueError) as err:
        raise UserError(
            f"weights {path}: not notop {label} weights Keras can load ({_first_line(err)})"
        ) from None


def _first_line(err) -> str:
    return (str(err).strip().splitlines() or [""])[0]
