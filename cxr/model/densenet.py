"""DenseNet121 multi-label classifier for ChestX-ray14 (CheXNet-style).

The model is one flat functional graph:

    image -> DenseNet121 layers ... "relu" -> "avg_pool" -> "head_dropout" -> "logits"

Flat means the DenseNet layers are the model's own layers (no nested
sub-model), so `model.get_layer("relu")` (the last conv activation, used by
Grad-CAM) and every block's layers can be reached by name.

The model outputs logits; probabilities are `keras.ops.sigmoid(logits)`, one
independent sigmoid per label (multi-label, not softmax). Train it with
`keras.losses.BinaryCrossentropy(from_logits=True)`.

Inputs are float32 images `(S, S, 3)` already normalised with the ImageNet
mean/std by the input pipeline (`cxr.data.datasets.preprocess`), as the ImageNet
DenseNet121 weights expect.

Training only the head on a frozen backbone is cheap if the pooled features
are computed once: `feature_extractor(model)` maps images to features and
`head_model(model)` maps features to logits. `head_model` reuses the model's
own Dropout and Dense layers, so training it trains the full model's head;
there are no weights to copy back.
"""

import os
import pathlib

import keras

from cxr.errors import UserError

# Name of the file Keras downloads for `weights="imagenet"` (no classifier top).
IMAGENET_NOTOP_FILE = "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5"

# Names of the layers other code looks up.
GRADCAM_LAYER = "relu"  # last conv activation of DenseNet121, (S/32, S/32, 1024)
FEATURES_LAYER = "avg_pool"  # pooled backbone features, (1024,)
DROPOUT_LAYER = "head_dropout"
LOGITS_LAYER = "logits"

# First layer of each DenseNet121 dense block, in order (blocks conv2..conv5).
DENSE_BLOCK_STARTS = (
    "conv2_block1_0_bn",
    "conv3_block1_0_bn",
    "conv4_block1_0_bn",
    "conv5_block1_0_bn",
)


def build_model(
    *,
    num_labels=14,
    image_size=224,
    weights=None,
    dropout=0.0,
    trainable="head",
):
    """Builds the flat DenseNet121 classifier that outputs logits.

    Args:
        num_labels: Number of sigmoid outputs; 14 for ChestX-ray14.
        image_size: Side S of the square input images (S, S, 3); at least 32.
            224 is what the ImageNet weights and CheXNet used.
        weights: Backbone initialisation (a `UserError` when it cannot be loaded):
            `None` for random init, `"imagenet"`
            for Keras's ImageNet weights (downloaded once to
            `~/.keras/models/`), or the path of a local notop DenseNet121
            weights file (`.h5`, e.g. the ImageNet file itself, or
            `.weights.h5` as written by `backbone(model).save_weights(...)`).
            The head is always randomly initialised.
        dropout: Dropout rate before the logits layer; 0.0 (no dropout) as in
            CheXNet.
        trainable: Which layers train, see `set_trainable`; "head" (frozen
            backbone) by default, the cheap setting on a CPU.

    Returns:
        An uncompiled `keras.Model` mapping images to logits `(B, num_labels)`.
    """
    inputs = keras.Input(shape=(image_size, image_size, 3), name="image")
    # `input_tensor=` makes Keras build the DenseNet layers on our input, so
    # they become layers of the outer model rather than one nested model.
    densenet = _densenet121(inputs, weights)
    x = keras.layers.GlobalAveragePooling2D(name=FEATURES_LAYER)(densenet.output)
    x = keras.layers.Dropout(dropout, name=DROPOUT_LAYER)(x)
    # float32 logits keep the loss stable under a mixed-precision policy.
    logits = keras.layers.Dense(num_labels, dtype="float32", name=LOGITS_LAYER)(x)
    model = keras.Model(inputs, logits, name="cxr_densenet121")
    set_trainable(model, trainable)
    return model


def _densenet121(inputs, weights):
    """Returns Keras's notop DenseNet121 built on `inputs`, with its weights loaded."""
    kwargs = dict(include_top=False, input_tensor=inputs, input_shape=inputs.shape[1:])
    if weights is None or weights == "imagenet":
        try:
            return keras.applications.DenseNet121(weights=weights, **kwargs)
        except Exception as err:
            # Keras reports a failed download as a bare Exception("URL fetch
            # failure on <url>: ..."); anything else is not ours to rewrite.
            if "URL fetch failure" not in str(err):
                raise
            reason = (str(err).strip().splitlines() or [""])[0]
            raise UserError(
                f"could not download the ImageNet weights {IMAGENET_NOTOP_FILE} ({reason}); "
                f"pass a local copy with --config.model.weights=/path/to/{IMAGENET_NOTOP_FILE} "
                "(or put it in ~/.keras/models/), or train from scratch with "
                "--config.model.weights=None"
            ) from None
    check_weights(weights)
    path = os.fspath(weights)
    try:
        return keras.applications.DenseNet121(weights=path, **kwargs)
    except (OSError, ValueError) as err:
        reason = (str(err).strip().splitlines() or [""])[0]
        raise UserError(
            f"weights {path}: not notop DenseNet121 weights Keras can load ({reason})"
        ) from None


def check_weights(weights) -> None:
    """Fails early, with a `UserError`, on weights `build_model` could not load.

    "imagenet" is downloaded now (Keras caches it in ~/.keras/models/), by building
    DenseNet121 once at its smallest input; a path must be a file.
    """
    if weights is None:
        return
    if weights == "imagenet":
        _densenet121(keras.Input(shape=(32, 32, 3)), weights)
    elif not os.path.isfile(os.fspath(weights)):
        raise UserError(
            f"weights {os.fspath(weights)!r} is neither None, 'imagenet' nor an existing file; "
            f"pass the path of a notop DenseNet121 weights file ({IMAGENET_NOTOP_FILE})"
        )


def backbone(model):
    """Returns the DenseNet121 part of `model`: images -> last conv activation.

    It shares the layers of `model`; `backbone(model).save_weights(
    "x.weights.h5")` writes a file that `build_model(weights=...)` can load.

    Args:
        model: A model from `build_model`.

    Returns:
        A `keras.Model` mapping images to the `GRADCAM_LAYER` output.
    """
    return keras.Model(model.input, model.get_layer(GRADCAM_LAYER).output, name="densenet121")


def feature_extractor(model):
    """Returns a model mapping images to pooled backbone features.

    With a frozen backbone these features do not change during training, so a
    trainer can compute them once per image and train `head_model` on them.

    Args:
        model: A model from `build_model`.

    Returns:
        A `keras.Model` sharing the layers of `model`, images -> (B, 1024).
    """
    return keras.Model(model.input, model.get_layer(FEATURES_LAYER).output, name="features")


def head_model(model):
    """Returns a model mapping pooled features to logits with `model`'s own head.

    The Dropout and Dense layers are the same objects as in `model`, so fitting
    this model updates `model`'s logits weights in place.

    Args:
        model: A model from `build_model`.

    Returns:
        A `keras.Model` features (B, 1024) -> logits (B, num_labels).
    """
    num_features = model.get_layer(FEATURES_LAYER).output.shape[-1]
    features = keras.Input(shape=(num_features,), name="features")
    x = model.get_layer(DROPOUT_LAYER)(features)
    logits = model.get_layer(LOGITS_LAYER)(x)
    return keras.Model(features, logits, name="head")


def check_trainable(mode):
    """Raises a `UserError` unless `mode` is one `set_trainable` takes."""
    n = len(DENSE_BLOCK_STARTS)
    if mode in ("head", "all"):
        return
    count = mode.split(":", 1)[1] if mode.startswith("last_blocks:") else ""
    if not (count.isdigit() and 1 <= int(count) <= n):
        raise UserError(
            f"unfreeze mode {mode!r}: use 'head', 'all' or 'last_blocks:N', N in 1..{n}"
        )


def set_trainable(model, mode):
    """Chooses which layers of a `build_model` model train.

    In Keras 3 a BatchNormalization layer with `trainable=False` runs in
    inference mode: it normalises with its stored (ImageNet) statistics and
    does not update them, even inside `fit`. That is what we want for frozen
    layers: batch statistics of small X-ray batches would otherwise shift the
    features under the head, and features cached once with `predict` would
    no longer match what the head sees in training. BatchNorm layers in the
    unfrozen blocks train as usual. Recompile the model after changing this.

    Args:
        model: A model from `build_model`.
        mode: "head" (only the logits layer trains), "all", or
            "last_blocks:N" with N in 1..4 (the last N of DenseNet121's four
            dense blocks, the transitions between them, and the head train;
            the stem and earlier blocks stay frozen).

    Raises:
        UserError: For an unknown mode.
    """
    check_trainable(mode)
    if mode == "head":
        first = FEATURES_LAYER
    elif mode == "all":
        first = model.layers[0].name
    else:
        first = DENSE_BLOCK_STARTS[-int(mode.split(":", 1)[1])]
    # Functional layers are in topological order and DenseNet is a chain of
    # blocks, so every layer listed after `first` lies above it in the graph.
    first_index = [layer.name for layer in model.layers].index(first)
    model.trainable = True
    for index, layer in enumerate(model.layers):
        layer.trainable = index >= first_index


def load_model(path, num_labels=None) -> keras.Model:
    """Loads a saved cxr model (`model.keras`) in Keras safe mode, checked.

    Args:
        path: the `.keras` file.
        num_labels: the number of logits it must have; None accepts any.

    Raises:
        UserError: when the file is missing, not a Keras model, or not a cxr model.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise UserError(f"no model at {path}; pass runs/<NAME>/<run id> of a finished run")
    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except Exception as e:  # any unreadable or foreign file
        reason = (str(e).strip().splitlines() or [""])[0]
        raise UserError(
            f"{path} is not a Keras model cxr can load ({type(e).__name__}: {reason})"
        ) from None
    names = {layer.name for layer in model.layers}
    ours = {GRADCAM_LAYER, LOGITS_LAYER} <= names  # then it has a defined output
    if not ours or (num_labels is not None and model.output.shape[-1] != num_labels):
        expected = f"a {num_labels}-label head" if num_labels else "a cxr head"
        raise UserError(f"{path} is not a cxr model (DenseNet121 with {expected})")
    return model
