"""The backbone's input preprocessing as the model's first layers.

A cxr model takes raw [0, 255] gray-as-RGB pixels, so a saved model, `cxr predict` and
a user's `keras.models.load_model` all feed it the same thing. The layers are built-in
`Normalization` layers with fixed statistics: no weights (ImageNet weight files load
layer for layer as before), loadable by a plain Keras without cxr, and exact: each
computes (x - mean) / sqrt(variance) in float32, and sqrt of a correctly rounded square
is the number squared, so the pixels are those of Keras's own `preprocess_input`
(x / 255, - mean, / std) to the last bit, as cxr's input pipeline computed them before
preprocessing moved into the model.
"""

import keras
import numpy as np

from cxr.model.layer_names import PREPROCESS_LAYER

# ImageNet channel statistics on [0, 1] pixels, as Keras's DenseNet preprocess_input uses them.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def apply(mode: str, inputs):
    """`inputs` through the preprocessing of mode "mean_std", "tf" or "built_in".

    "mean_std": x / 255, then minus the ImageNet mean and over its std per channel;
    "tf": x / 127.5 - 1; "built_in": unchanged (the application rescales its own input).
    The last layer is named `PREPROCESS_LAYER`; float32 under any precision policy.
    """
    if mode == "mean_std":
        x = _divide_and_subtract(inputs, 255.0, 0.0, "preprocess_scale")
        return _divide_and_subtract(x, IMAGENET_STD, IMAGENET_MEAN, PREPROCESS_LAYER)
    if mode == "tf":
        x = _divide_and_subtract(inputs, 127.5, 0.0, "preprocess_scale")
        return _divide_and_subtract(x, 1.0, 1.0, PREPROCESS_LAYER)
    if mode == "built_in":
        return keras.layers.Identity(dtype="float32", name=PREPROCESS_LAYER)(inputs)
    raise ValueError(f"unknown preprocessing mode {mode!r}")


def _divide_and_subtract(x, divisor, mean, name):
    """(x - mean) / divisor, exactly: the variance is the float32 divisor squared in float32."""
    divisor = np.float32(divisor)
    variance = (divisor * divisor).astype(np.float32)
    layer = keras.layers.Normalization(
        mean=np.float32(mean).tolist(), variance=variance.tolist(), dtype="float32", name=name
    )
    return layer(x)
