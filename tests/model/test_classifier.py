"""The classifier on the tiny backbone: flat graph, logits, shared head, freezing, saving.

DenseNet121's own checks (its blocks, its weights files, models saved before the
registry) are in test_densenet121.py; every backbone's in test_backbones.py.
"""

import keras
import numpy as np
import pytest

from cxr.model import classifier
from cxr_tfds.labels import LABELS
from tests.helpers.backends import rerun_under_the_other_backend

SIZE = 32
BACKBONE = "tiny"


def images(n=4, size=SIZE, seed=0):
    """Random gray images as `cxr.data.datasets.model_input` gives them: [0, 255], 3 channels."""
    gray = np.random.default_rng(seed).integers(0, 256, (n, size, size, 1), dtype=np.uint8)
    return np.repeat(gray.astype(np.float32), 3, axis=-1)


def weights_by_path(model):
    return {v.path: keras.ops.convert_to_numpy(v) for v in model.weights}


def test_forward_pass_is_flat_and_outputs_logits():
    model = classifier.build_model(backbone=BACKBONE, num_labels=len(LABELS), image_size=SIZE)
    logits = keras.ops.convert_to_numpy(model(images()))
    assert logits.shape == (4, len(LABELS)) and logits.dtype == np.float32
    assert np.isfinite(logits).all()
    assert model.get_layer(classifier.LOGITS_LAYER).activation is keras.activations.linear
    assert not any(isinstance(layer, keras.Model) for layer in model.layers)
    # Grad-CAM needs the last conv activation and the logits in one graph.
    gradcam = keras.Model(
        model.input, [model.get_layer(classifier.GRADCAM_LAYER).output, model.output]
    )
    conv, gradcam_logits = gradcam(images())
    assert tuple(conv.shape) == (4, SIZE // 32, SIZE // 32, 64)
    # The same float32 ops in another graph, which oneDNN may fuse or order differently;
    # each logit sums the pooled features (~1e-6 apart on one CPU), 1e-4 holds on any x86 CPU.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(gradcam_logits), logits, atol=1e-4)


def test_head_model_trains_the_full_models_head():
    model = classifier.build_model(backbone=BACKBONE, image_size=SIZE, dropout=0.5)
    x = images(8)
    labels = np.random.default_rng(1).integers(0, 2, (8, len(LABELS))).astype(np.float32)
    features = keras.ops.convert_to_numpy(classifier.feature_extractor(model)(x))
    head = classifier.head_model(model)
    assert head.get_layer(classifier.LOGITS_LAYER) is model.get_layer(classifier.LOGITS_LAYER)
    before = weights_by_path(model)

    head.compile(
        optimizer=keras.optimizers.Adam(0.1), loss=keras.losses.BinaryCrossentropy(from_logits=True)
    )
    head.fit(features, labels, epochs=2, batch_size=4, verbose=0)

    after = weights_by_path(model)
    changed = {path for path in before if not np.array_equal(before[path], after[path])}
    assert changed == {"logits/kernel", "logits/bias"}
    # The whole model against backbone-then-head: the same float32 ops in two graphs
    # (sums over the pooled features), equal up to their rounding on any x86 CPU.
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(x)),
        keras.ops.convert_to_numpy(head(features)),
        rtol=1e-4,
        atol=1e-4,
    )


@pytest.mark.parametrize("mode, same", [("head", True), ("all", False)])
def test_frozen_batchnorm_runs_in_inference_mode(mode, same):
    """Cached features stay valid only if a frozen backbone ignores `training`."""
    model = classifier.build_model(backbone=BACKBONE, image_size=SIZE, trainable=mode)
    extractor = classifier.feature_extractor(model)
    x = images(8)
    train = keras.ops.convert_to_numpy(extractor(x, training=True))
    infer = keras.ops.convert_to_numpy(extractor(x, training=False))
    # Frozen: the very same inference ops, equal; trainable: batch statistics instead of
    # the stored ones, differences of order 1. 1e-3 separates the two on any CPU.
    assert np.allclose(train, infer, atol=1e-3) == same


def test_saved_model_loads_back(tmp_path):
    model = classifier.build_model(backbone=BACKBONE, image_size=SIZE)
    classifier.head_model(model)  # extra uses of the head layers must not break saving
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(images())),
        keras.ops.convert_to_numpy(model(images())),
        atol=1e-4,  # the same weights and ops; only a different fusion could round otherwise
    )
    assert loaded.get_layer(classifier.GRADCAM_LAYER).name == "feature_map"
    assert loaded.name == "cxr_tiny"


@pytest.mark.large
def test_this_file_passes_under_the_other_backend():
    rerun_under_the_other_backend(__file__)
