"""The training loss: binary cross-entropy on logits, optionally weighting each label's positives.

Registered with Keras, so a saved model that names it loads wherever this module is imported.
"""

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="cxr")
class WeightedBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy on logits with a weight on each label's positives.

    Keras's `class_weight` cannot do this: for multi-label targets it weights
    each sample by `argmax(y)`, one label only.

    Args:
        pos_weight: one weight per label for its positive terms; N_neg / N_pos of
            the training split balances each label.
    """

    def __init__(self, pos_weight, name="weighted_bce", **kwargs):
        super().__init__(name=name, **kwargs)
        self.pos_weight = [float(w) for w in pos_weight]

    def call(self, y_true, y_pred):
        y_true = keras.ops.cast(y_true, y_pred.dtype)
        w = keras.ops.convert_to_tensor(self.pos_weight, dtype=y_pred.dtype)
        # -log(sigmoid(z)) = softplus(-z) and -log(1 - sigmoid(z)) = softplus(z), stably.
        loss = w * y_true * keras.ops.softplus(-y_pred) + (1 - y_true) * keras.ops.softplus(y_pred)
        return keras.ops.mean(loss, axis=-1)

    def get_config(self):
        return {**super().get_config(), "pos_weight": self.pos_weight}


def positive_weights(labels: np.ndarray) -> np.ndarray:
    """N_neg / N_pos per label column; 1 where a label has no positive (or no negative)."""
    positives = labels.sum(axis=0)
    negatives = len(labels) - positives
    ok = (positives > 0) & (negatives > 0)
    return np.where(ok, negatives / np.maximum(positives, 1), 1.0).astype("float32")
