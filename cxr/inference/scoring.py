"""From model inputs to probabilities: the one place the sigmoid is applied.

The model outputs logits (`cxr.model.densenet`); every probability cxr shows or saves
(`cxr predict`, `cxr evaluate`) comes from `probabilities`.
"""

import keras
import numpy as np

from cxr.runtime import distribution


def probabilities(model, images, batch_size) -> np.ndarray:
    """Per-label sigmoid probabilities of `images`, scored by the one prediction path.

    Args:
        model: a cxr model (logits out), or its test-time-augmented version.
        images: preprocessed float32 `(N, S, S, 3)` (`cxr.data.datasets.preprocess`).
        batch_size: rows per model call (`cxr.runtime.distribution.predict` pads the last).

    Returns:
        float32 `(N, labels)` in [0, 1].
    """
    logits = distribution.predict(model, images, batch_size)
    return keras.ops.convert_to_numpy(keras.ops.sigmoid(logits)).astype(np.float32)
