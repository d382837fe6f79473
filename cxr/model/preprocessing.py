"""The backbone's input preprocessing as the model's first layer.

A cxr model takes raw [0, 255] gray-as-RGB pixels, so a saved model, `cxr predict` and
a user's `keras.models.load_model` all feed it the same thing. The layer is a built-in
`Rescaling` (per-channel scale and offset, no weights), so a plain Keras loads the
model without cxr, and ImageNet weight files load layer for layer as before.
"""

import keras

from cxr.model.layer_names import PREPROCESS_LAYER as LAYER

# ImageNet channel statistics on [0, 1] pixels, as Keras's "torch" mode uses them.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def layer(mode: str) -> keras.layers.Layer:
    """The preprocessing layer of mode "torch", "tf" or "built_in" (`cxr.model.backbones`).

    float32 under any precision policy: the pixels are normalised before any cast.
    """
    if mode == "torch":  # (x / 255 - mean) / std = x * 1 / (255 std) - mean / std
        scale = [1 / (255 * s) for s in IMAGENET_STD]
        offset = [-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True)]
        return keras.layers.Rescaling(scale, offset, dtype="float32", name=LAYER)
    if mode == "tf":  # x / 127.5 - 1, to [-1, 1]
        return keras.layers.Rescaling(1 / 127.5, -1.0, dtype="float32", name=LAYER)
    if mode == "built_in":  # the application rescales its own input
        return keras.layers.Identity(dtype="float32", name=LAYER)
    raise ValueError(f"unknown preprocessing mode {mode!r}")
