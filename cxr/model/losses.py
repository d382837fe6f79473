"""The training loss: binary cross-entropy on logits over the known labels, optionally
weighting each label's positives.

A label entry is known (1 or 0) or unknown (`cxr.data.label_space.UNKNOWN`, -1): an
unknown entry contributes nothing, and the loss of a batch is the mean over its known
entries. With every entry known that is Keras's `BinaryCrossentropy(from_logits=True)`,
the same op per entry, summed and divided by the label count instead of `mean`.

Registered with Keras, so a saved model that names it loads wherever this module is imported.
"""

import keras
import numpy as np

from cxr.data.label_space import UNKNOWN


@keras.saving.register_keras_serializable(package="cxr")
class WeightedBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy on logits over known entries, with a weight on each label's positives.

    Keras's `class_weight` cannot do this: for multi-label targets it weights
    each sample by `argmax(y)`, one label only.

    Each row's value is its known entries' summed loss divided by the batch's known
    entries per row, so Keras's mean over rows is the mean over the batch's known entries
    (and, all known, each row's mean over its labels). A batch with no known entry: 0.

    Args:
        pos_weight: one weight per label for its positive terms (N_neg / N_pos of the
            training split's known entries balances each label); None: no weights.
    """

    def __init__(self, pos_weight=None, name="weighted_bce", **kwargs):
        super().__init__(name=name, **kwargs)
        self.pos_weight = None if pos_weight is None else [float(w) for w in pos_weight]

    def call(self, y_true, y_pred):
        y_true = keras.ops.cast(y_true, y_pred.dtype)
        known = keras.ops.cast(keras.ops.not_equal(y_true, UNKNOWN), y_pred.dtype)
        target = keras.ops.maximum(y_true, 0.0)  # unknown: any valid target, masked below
        if self.pos_weight is None:
            loss = keras.ops.binary_crossentropy(target, y_pred, from_logits=True)
        else:
            w = keras.ops.convert_to_tensor(self.pos_weight, dtype=y_pred.dtype)
            # -log(sigmoid(z)) = softplus(-z) and -log(1 - sigmoid(z)) = softplus(z), stably.
            loss = w * target * keras.ops.softplus(-y_pred) + (1 - target) * keras.ops.softplus(
                y_pred
            )
        rows = keras.ops.cast(keras.ops.shape(y_true)[0], y_pred.dtype)
        per_row = keras.ops.sum(known) / rows  # the label count when every entry is known
        row_sums = keras.ops.sum(loss * known, axis=-1)
        return row_sums / keras.ops.maximum(per_row, keras.backend.epsilon())

    def get_config(self):
        return {**super().get_config(), "pos_weight": self.pos_weight}


def positive_weights(labels: np.ndarray) -> np.ndarray:
    """N_neg / N_pos per label column over its known entries (`UNKNOWN` left out); 1 where a
    label has no known positive (or no known negative)."""
    labels = np.asarray(labels)
    positives = (labels == 1).sum(axis=0)
    negatives = (labels == 0).sum(axis=0)
    ok = (positives > 0) & (negatives > 0)
    return np.where(ok, negatives / np.maximum(positives, 1), 1.0).astype("float32")
