"""From model inputs to probabilities: the one place the sigmoid is applied.

The model outputs logits (`cxr.model.classifier`); every probability cxr shows or saves
(`cxr predict`, `cxr evaluate`) comes from `probabilities`.
"""

import keras
import numpy as np

from cxr.runtime import distribution


def probabilities(model, images, batch_size) -> np.ndarray:
    """Per-label sigmoid probabilities of `images`, scored by the one prediction path.

    Args:
        model: a cxr model (logits out), or its test-time-augmented version.
        images: model inputs, float32 `(N, S, S, 3)` in [0, 255] (`cxr.data.datasets.model_input`).
        batch_size: rows per model call (`cxr.runtime.distribution.predict` pads the last).

    Returns:
        float32 `(N, labels)` in [0, 1].
    """
    logits = distribution.predict(model, images, batch_size)
    return keras.ops.convert_to_numpy(keras.ops.sigmoid(logits)).astype(np.float32)
