"""The cxr multi-label classifier on any registered backbone (`cxr.model.backbones`).

The model is one flat functional graph:

    image -> ("preprocess_scale") -> "preprocess" -> backbone layers ... -> "feature_map" -> "avg_pool"
          -> "head_dropout" -> "logits"

Its input is raw [0, 255] gray-as-RGB pixels; the backbone's own preprocessing is its
first layer (`cxr.model.preprocessing`). Flat means the backbone's layers are the
model's own (no nested sub-model), so every layer can be reached by name. Code that
needs a layer asks for one of the names below, never a family's own layer names:
"feature_map" (an identity on the backbone's last feature map: Grad-CAM's layer),
"avg_pool" (the pooled features), "head_dropout" and "logits".

The model outputs logits; probabilities are `keras.ops.sigmoid(logits)`, one
independent sigmoid per label. Train it with `BinaryCrossentropy(from_logits=True)`.

Training only the head on a frozen backbone is cheap if the pooled features are
computed once: `feature_extractor(model)` maps images to features and `head_model(model)`
maps features to logits with the model's own head layers (no weights to copy back).
"""

import os

import keras

from cxr.errors import UserError
from cxr.model import backbones, preprocessing
from cxr.model.freezing import check_trainable, set_trainable  # noqa: F401  (re-exported)
from cxr.model.layer_names import (  # noqa: F401  (re-exported)
    DROPOUT_LAYER,
    FEATURE_MAP_LAYER,
    FEATURES_LAYER,
    GRADCAM_LAYER,
    LOGITS_LAYER,
    MODEL_PREFIX,
    backbone_name,
)


def build_model(
    *,
    backbone=backbones.DEFAULT,
    num_labels=14,
    image_size=224,
    weights=None,
    dropout=0.0,
    trainable="head",
):
    """Builds the flat classifier that outputs logits.

    Args:
        backbone: a registered backbone name (`cxr.model.backbones.names()`).
        num_labels: sigmoid outputs; 14 for ChestX-ray14.
        image_size: side S of the square input images (S, S, 3), raw [0, 255] pixels.
        weights: the backbone's initialisation: None (random), "imagenet" (Keras's
            download, cached in ~/.keras/models/), or the path of a local notop weights
            file (the registry's `weights_file`, or a `.weights.h5` written by
            `backbone(model).save_weights(...)`). The head is always random.
        dropout: dropout rate before the logits layer; 0.0 as in CheXNet.
        trainable: which layers train, see `set_trainable`.

    Raises:
        UserError: for an unknown backbone, a too-small image or weights that cannot load.
    """
    entry = backbones.get(backbone)
    _check_size(entry, image_size)
    inputs = keras.Input(shape=(image_size, image_size, 3), name="image")
    x = preprocessing.apply(entry.preprocessing, inputs)
    x = entry.build(x, weights)
    x = keras.layers.Identity(name=FEATURE_MAP_LAYER)(x)
    x = keras.layers.GlobalAveragePooling2D(name=FEATURES_LAYER)(x)
    x = keras.layers.Dropout(dropout, name=DROPOUT_LAYER)(x)
    # float32 logits keep the loss stable under a mixed-precision policy.
    logits = keras.layers.Dense(num_labels, dtype="float32", name=LOGITS_LAYER)(x)
    model = keras.Model(inputs, logits, name=MODEL_PREFIX + entry.name)
    set_trainable(model, trainable)
    return model


def _check_size(entry, image_size):
    if image_size < entry.min_size:
        raise UserError(
            f"backbone {entry.name} needs images of at least {entry.min_size} px; "
            f"this dataset's are {image_size} px"
        )


def check_weights(weights, backbone=backbones.DEFAULT) -> None:
    """Fails early, with a `UserError`, on weights `build_model` could not load.

    "imagenet" is downloaded now (Keras caches it), by building the backbone once at its
    smallest input; a path must be a file.
    """
    entry = backbones.get(backbone)
    if weights is None:
        return
    if weights == "imagenet":
        size = entry.min_size
        entry.build(keras.Input(shape=(size, size, 3)), weights)
    elif not os.path.isfile(os.fspath(weights)):
        wanted = f" ({entry.weights_file})" if entry.weights_file else ""
        raise UserError(
            f"weights {os.fspath(weights)!r} is neither None, 'imagenet' nor an existing file; "
            f"pass the path of a notop {entry.name} weights file{wanted}"
        )


def backbone(model):
    """The backbone part of `model`: images -> the backbone's own last layer.

    It shares the layers of `model`; `backbone(model).save_weights("x.weights.h5")`
    writes a file that `build_model(backbone=..., weights=...)` can load.
    """
    return keras.Model(model.input, model.get_layer(FEATURE_MAP_LAYER).input, name="backbone")


def feature_extractor(model):
    """Images -> pooled backbone features `(B, F)`, sharing `model`'s layers.

    With a frozen backbone these do not change during training, so a trainer can
    compute them once per image and train `head_model` on them.
    """
    return keras.Model(model.input, model.get_layer(FEATURES_LAYER).output, name="features")


def head_model(model):
    """Pooled features `(B, F)` -> logits with `model`'s own Dropout and Dense layers.

    Fitting this model updates `model`'s logits weights in place.
    """
    num_features = model.get_layer(FEATURES_LAYER).output.shape[-1]
    features = keras.Input(shape=(num_features,), name="features")
    x = model.get_layer(DROPOUT_LAYER)(features)
    logits = model.get_layer(LOGITS_LAYER)(x)
    return keras.Model(features, logits, name="head")
