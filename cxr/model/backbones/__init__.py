"""The backbone registry: every network a cxr classifier can be built on, by name.

    entry = backbones.get("efficientnetv2b0")   # a `Backbone`; UserError lists the names
    backbones.names()                            # every registered name, in order

Each family registers its entries in its own file of this package (`register(...)`);
the one registration of a new family is its import below. Importing this package is
pure: an entry's `build` imports Keras only when it is called, so `cxr --help` and the
config checks list the names without starting a framework.
"""

import dataclasses
from collections.abc import Callable

from cxr.errors import UserError

# The default: every config, run directory and saved model without a backbone is this one.
DEFAULT = "densenet121"

# Input preprocessing modes, applied inside the model to raw [0, 255] gray-as-RGB pixels:
# "mean_std": x / 255, then the ImageNet mean and std per channel (DenseNet);
# "tf": x / 127.5 - 1, to [-1, 1] (ResNet V2, Xception, Inception V3);
# "built_in": the application rescales its own input (EfficientNetV2, ConvNeXt, MobileNetV3).
PREPROCESSING = ("mean_std", "tf", "built_in")


@dataclasses.dataclass(frozen=True)
class Backbone:
    """One registered backbone.

    Attributes:
        name: the registry name, `config.model.backbone`.
        build: `(inputs, weights) -> feature map tensor`: the network built on the
            preprocessed keras tensor `inputs` as layers of the caller's graph, with
            `weights` None, "imagenet" or a local file loaded. Imports Keras itself.
        preprocessing: one of `PREPROCESSING`.
        weights_file: the ImageNet notop weights file Keras downloads for "imagenet",
            to pass offline as `--config.model.weights=/path/<weights_file>`; None
            where there is none.
        feature_width: channels of the feature map (the pooled features' width).
        blocks: what `train.unfreeze=last_blocks:N` counts, in words.
        block_starts: where each block begins, first block first: a layer-name prefix
            (the first layer whose name starts with it) or ">name" (the layer after
            layer `name`, for families whose layers inside a block are auto-numbered).
        native_size: the input side the ImageNet weights were trained at.
        min_size: the smallest input side the network accepts.
        cascade: how the sanity cascade groups weighted layers into stages, top down:
            "blocks" (the blocks above) or "name_prefix" (consecutive layers sharing the
            name's part before the first "_", for families whose names are stable).
    """

    name: str
    build: Callable
    preprocessing: str
    weights_file: str | None
    feature_width: int
    blocks: str
    block_starts: tuple[str, ...]
    native_size: int = 224
    min_size: int = 32
    cascade: str = "blocks"


_REGISTRY: dict[str, Backbone] = {}


def register(entry: Backbone) -> Backbone:
    """Adds `entry` to the registry; a second entry of the same name is an error."""
    if entry.name in _REGISTRY:
        raise ValueError(f"backbone {entry.name!r} is registered twice")
    if entry.preprocessing not in PREPROCESSING:
        raise ValueError(f"backbone {entry.name!r}: preprocessing {entry.preprocessing!r}")
    _REGISTRY[entry.name] = entry
    return entry


def unregister(name: str) -> None:
    """Removes `name` (tests that register a backbone of their own clean up with this)."""
    _REGISTRY.pop(name, None)


def names() -> tuple[str, ...]:
    """Every registered backbone name, in registration order."""
    return tuple(_REGISTRY)


def get(name: str | None) -> Backbone:
    """The entry of `name` (None: the default); a `UserError` naming the registered ones."""
    name = name or DEFAULT
    if name not in _REGISTRY:
        raise UserError(
            f"unknown backbone {name!r}; use --config.model.backbone=one of {', '.join(names())}"
        )
    return _REGISTRY[name]


# The registrations: one import per family file.
from cxr.model.backbones import (  # noqa: E402, F401
    convnext,
    densenet,
    efficientnet,
    inception,
    mobilenet,
    resnet,
    tiny,
    xception,
)
