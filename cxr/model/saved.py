"""Loading a saved cxr model (`model.keras`), models saved before preprocessing moved in.

Since cxr 0.3 a model carries its preprocessing and a "feature_map" layer. A model saved
before (always DenseNet121, fed ImageNet-normalised pixels by the input pipeline) is
rebuilt on load as today's DenseNet121 classifier with its weights, layer by layer, so
every caller feeds every model raw [0, 255] pixels. The run directory's config records
where the preprocessing lived (`preprocessing_in_model`); the model itself tells too.
"""

import pathlib

import keras

from cxr.errors import UserError
from cxr.model import (
    classifier,
    losses,  # noqa: F401  (registers the loss a compiled model's file names)
)
from cxr.model.layer_names import DROPOUT_LAYER, LOGITS_LAYER, PREPROCESS_LAYER

LEGACY_FEATURE_MAP = "relu"  # DenseNet121's last activation: Grad-CAM's layer before cxr 0.3


def load_model(path, num_labels=None) -> keras.Model:
    """Loads a saved cxr model in Keras safe mode, checked, and brought up to date.

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
    feature_map = classifier.FEATURE_MAP_LAYER if PREPROCESS_LAYER in names else LEGACY_FEATURE_MAP
    ours = {feature_map, LOGITS_LAYER} <= names  # then it has a defined output
    if not ours or (num_labels is not None and model.output.shape[-1] != num_labels):
        expected = f"a {num_labels}-label head" if num_labels else "a cxr head"
        raise UserError(f"{path} is not a cxr model (a cxr backbone with {expected})")
    return model if PREPROCESS_LAYER in names else from_legacy(model)


def from_legacy(old: keras.Model) -> keras.Model:
    """A DenseNet121 classifier saved before cxr 0.3, rebuilt with its preprocessing inside.

    Every weighted layer's weights are copied by name; the new layers (preprocess,
    feature_map) have none. Each layer keeps whether it was trainable.
    """
    new = classifier.build_model(
        backbone="densenet121",
        num_labels=old.output.shape[-1],
        image_size=old.input.shape[1],
        weights=None,
        dropout=old.get_layer(DROPOUT_LAYER).rate,
        trainable="all",
    )
    for layer in old.layers:
        target = new.get_layer(layer.name) if layer.weights else None
        if target is not None:
            target.set_weights(layer.get_weights())
    for layer in new.layers:
        if layer.name in {old_layer.name for old_layer in old.layers}:
            layer.trainable = old.get_layer(layer.name).trainable
    return new
