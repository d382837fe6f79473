"""A four-input linear model and random data for it: training wiring in milliseconds."""

import keras
import numpy as np

from cxr_tfds.labels import LABELS


def tiny_model(learning_rate=0.1):
    """A dense layer from 4 inputs to one logit per label, compiled with SGD."""
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(len(LABELS))])
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    return model


def tiny_data(n=16):
    """`n` random inputs for `tiny_model` and random multi-hot labels (seeded)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    return x, (rng.random((n, len(LABELS))) < 0.5).astype(np.float32)
