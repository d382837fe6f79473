"""Augmentation runs inside tf.data under TensorFlow and JAX, keeps shapes and range and is
seeded; test-time augmentation is the mean of the views' probabilities."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from cxr.data import augment
from cxr.errors import UserError

# Every layer on: the affine set and the flip.
EVERYTHING = dict(rotation=0.02, zoom=0.1, translation=0.05, contrast=0.1, flip=True)


def gray_batches(seed=0, batches=3, size=32):
    """A tf.data stream of float [4, size, size, 1] batches in [0, 255], as cxr.data.datasets feeds it."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 255, (batches * 4, size, size, 1)).astype(np.float32)
    return tf.data.Dataset.from_tensor_slices(x).batch(4), x


def augmented(aug, seed=0):
    ds, x = gray_batches(seed)
    return np.concatenate(list(ds.map(aug).as_numpy_iterator())), x


def test_pipeline_runs_in_tf_data_keeping_shape_and_range():
    out, x = augmented(augment.augmenter(**EVERYTHING, seed=0))
    assert out.shape == x.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 255 + 1e-3
    assert not np.allclose(out, x)  # it did something


def test_same_seed_same_batches_other_seed_others():
    first, _ = augmented(augment.augmenter(**EVERYTHING, seed=1))
    again, _ = augmented(augment.augmenter(**EVERYTHING, seed=1))
    other, _ = augmented(augment.augmenter(**EVERYTHING, seed=2))
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_a_pipeline_of_only_the_layers_asked_for():
    aug = augment.augmenter(flip=True, contrast=0.1)
    assert isinstance(aug, keras.layers.Pipeline)
    assert [type(layer).__name__ for layer in aug.layers] == [
        "RandomFlip",
        "RandomContrast",
    ]
    with pytest.raises(UserError, match="every augmentation factor is 0"):
        augment.augmenter()


JAX_SCRIPT = """
import numpy as np, tensorflow as tf, keras
from cxr.data import augment
assert keras.backend.backend() == "jax"
x = np.random.default_rng(0).uniform(0, 255, (8, 32, 32, 1)).astype(np.float32)
def augmented():
    aug = augment.augmenter(**{kwargs}, seed=0)
    ds = tf.data.Dataset.from_tensor_slices(x).batch(4).map(aug)
    return np.concatenate(list(ds.as_numpy_iterator()))
out = augmented()
np.testing.assert_array_equal(out, augmented())
assert out.shape == x.shape and 0 <= out.min() and out.max() <= 255 + 1e-3
assert not np.allclose(out, x)

inputs = keras.Input((8, 8, 3))
model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
z = np.random.default_rng(1).normal(size=(3, 8, 8, 3)).astype(np.float32)
sigmoid = lambda v: 1 / (1 + np.exp(-np.asarray(v)))
by_hand = (sigmoid(model.predict_on_batch(z)) + sigmoid(model.predict_on_batch(z[:, :, ::-1]))) / 2
tta = augment.tta(model, flip=True).predict_on_batch(z)
# float32 log-sigmoid and logsumexp against float64 by hand: a few eps (1.2e-7) apart.
np.testing.assert_allclose(sigmoid(tta), by_hand, rtol=1e-5, atol=1e-6)
print("jax ok")
"""


def test_pipeline_in_tf_data_and_tta_under_jax():
    result = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT.format(kwargs=EVERYTHING)],
        env=dict(os.environ, KERAS_BACKEND="jax"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "jax ok" in result.stdout


def small_model(size=16, labels=3):
    """Logits out of a model that is not mirror-symmetric, so a flip changes its output."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(labels)(x))


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


@pytest.mark.parametrize("flip, crop", [(True, 0.0), (False, 0.75), (True, 0.75)])
def test_tta_is_the_mean_of_the_views_probabilities(flip, crop):
    model = small_model()
    x = np.random.default_rng(0).normal(size=(5, 16, 16, 3)).astype(np.float32)
    views = [x]
    if flip:
        views.append(x[:, :, ::-1])
    if crop:
        views.append(np.asarray(keras.ops.image.resize(x[:, 2:14, 2:14], (16, 16))))
    by_hand = np.mean([sigmoid(np.asarray(model.predict_on_batch(v))) for v in views], axis=0)
    logits = augment.tta(model, flip=flip, crop=crop).predict_on_batch(x)
    # The same float32 model on each view, then log-sigmoid and logsumexp in float32:
    # a few eps (1.2e-7) from the mean taken by hand; a wrong view is off by ~1e-2.
    np.testing.assert_allclose(sigmoid(np.asarray(logits)), by_hand, rtol=1e-5, atol=1e-6)
    assert not np.allclose(by_hand, sigmoid(np.asarray(model.predict_on_batch(x))))


def test_mean_probability_logits_keeps_precision_at_the_extremes():
    logits = [
        np.array([[30.0, -30.0, 0.0]], np.float32),
        np.array([[20.0, -40.0, 2.0]], np.float32),
    ]
    out = np.asarray(augment.mean_probability_logits(logits))
    p = (sigmoid(np.float64(logits[0])) + sigmoid(np.float64(logits[1]))) / 2
    # float32 keeps ~7 digits of a logit near 30; a naive log(mean p) would give inf.
    np.testing.assert_allclose(out, np.log(p) - np.log1p(-p), rtol=1e-4)


def test_every_layer_draws_from_its_own_seed():
    # Layers seeded alike draw the same uniforms: rotation and zoom would move together.
    seeds = [layer.seed for layer in augment.augmenter(**EVERYTHING, seed=3).layers]
    assert len(set(seeds)) == len(seeds) == 5
