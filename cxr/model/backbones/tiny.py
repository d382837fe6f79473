"""tiny: a real small network of the same shape as the others, for tests and smoke runs.

Stem (3x3 conv, stride 2), then four blocks of a 3x3 conv with stride 2, batch norm and
ReLU (8, 16, 32, 64 channels): a feature map at 1/32 of the input side like the
ImageNet backbones, then the same pooling and logits. It builds in milliseconds and
trains in seconds; it has no ImageNet weights. Preprocessing is DenseNet's, so the
path shared with the default backbone is the one tests exercise.
"""

from cxr.errors import UserError
from cxr.model.backbones import Backbone, register
from cxr.model.backbones.applications import load

WIDTHS = (8, 16, 32, 64)


def build(inputs, weights):
    """The tiny network on `inputs`; `weights` None or a `.weights.h5` of its backbone."""
    import keras

    if weights == "imagenet":
        raise UserError("backbone 'tiny' has no ImageNet weights; use --config.model.weights=None")

    def network(weights=None, input_tensor=None, **_):
        x = _conv_bn_relu(input_tensor, WIDTHS[0], "tiny_stem")
        for k, width in enumerate(WIDTHS, start=1):
            x = _conv_bn_relu(x, width, f"tiny_block{k}")
        model = keras.Model(keras.utils.get_source_inputs(input_tensor), x, name="tiny")
        if weights is not None:
            model.load_weights(weights)
        return model

    return load(network, {"input_tensor": inputs}, weights, "tiny", None).output


def _conv_bn_relu(x, width, prefix):
    import keras

    x = keras.layers.Conv2D(
        width, 3, strides=2, padding="same", use_bias=False, name=f"{prefix}_conv"
    )(x)
    x = keras.layers.BatchNormalization(name=f"{prefix}_bn")(x)
    return keras.layers.ReLU(name=f"{prefix}_relu")(x)


register(
    Backbone(
        name="tiny",
        build=build,
        preprocessing="mean_std",
        weights_file=None,
        feature_width=WIDTHS[-1],
        blocks="conv block (4)",
        block_starts=tuple(f"tiny_block{k}" for k in range(1, 5)),
    )
)
