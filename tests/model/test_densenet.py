"""The DenseNet121 classifier: flat graph, logits, shared head, freezing, weights."""

import os
import pathlib
import urllib.error
import urllib.request

import keras
import numpy as np
import pytest
from conftest import rerun_under_the_other_backend

from cxr.errors import UserError
from cxr.model import densenet
from cxr_tfds.labels import LABELS

SIZE = 32  # smallest input DenseNet121 accepts; keeps every test fast
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def images(n=4, size=SIZE, seed=0):
    """Random gray uint8 images preprocessed like `cxr.data.datasets.preprocess` does."""
    gray = np.random.default_rng(seed).integers(0, 256, (n, size, size, 1), dtype=np.uint8)
    rgb = np.repeat(gray.astype(np.float32) / 255.0, 3, axis=-1)
    return (rgb - IMAGENET_MEAN) / IMAGENET_STD


def weights_by_path(model):
    return {v.path: keras.ops.convert_to_numpy(v) for v in model.weights}


def test_forward_pass_is_flat_and_outputs_logits():
    model = densenet.build_model(num_labels=len(LABELS), image_size=SIZE)
    logits = keras.ops.convert_to_numpy(model(images()))
    assert logits.shape == (4, len(LABELS)) and logits.dtype == np.float32
    assert np.isfinite(logits).all()
    assert model.get_layer(densenet.LOGITS_LAYER).activation is keras.activations.linear
    assert not any(isinstance(layer, keras.Model) for layer in model.layers)
    # Grad-CAM needs the last conv activation and the logits in one graph.
    gradcam = keras.Model(
        model.input, [model.get_layer(densenet.GRADCAM_LAYER).output, model.output]
    )
    conv, gradcam_logits = gradcam(images())
    assert tuple(conv.shape) == (4, SIZE // 32, SIZE // 32, 1024)
    # The same float32 ops in another graph, which oneDNN may fuse or order differently;
    # each logit sums 1,024 features (~1e-6 apart on one CPU), 1e-4 holds on any x86 CPU.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(gradcam_logits), logits, atol=1e-4)


def test_head_model_trains_the_full_models_head():
    model = densenet.build_model(image_size=SIZE, dropout=0.5)
    x = images(8)
    labels = np.random.default_rng(1).integers(0, 2, (8, len(LABELS))).astype(np.float32)
    features = keras.ops.convert_to_numpy(densenet.feature_extractor(model)(x))
    head = densenet.head_model(model)
    assert head.get_layer(densenet.LOGITS_LAYER) is model.get_layer(densenet.LOGITS_LAYER)
    before = weights_by_path(model)

    head.compile(
        optimizer=keras.optimizers.Adam(0.1), loss=keras.losses.BinaryCrossentropy(from_logits=True)
    )
    head.fit(features, labels, epochs=2, batch_size=4, verbose=0)

    after = weights_by_path(model)
    changed = {path for path in before if not np.array_equal(before[path], after[path])}
    assert changed == {"logits/kernel", "logits/bias"}
    # The whole model against backbone-then-head: the same float32 ops in two graphs
    # (sums over 1,024 features), equal up to their rounding on any x86 CPU.
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(x)),
        keras.ops.convert_to_numpy(head(features)),
        rtol=1e-4,
        atol=1e-4,
    )


@pytest.mark.parametrize("mode, same", [("head", True), ("all", False)])
def test_frozen_batchnorm_runs_in_inference_mode(mode, same):
    """Cached features stay valid only if a frozen backbone ignores `training`."""
    model = densenet.build_model(image_size=SIZE, trainable=mode)
    extractor = densenet.feature_extractor(model)
    x = images(8)
    train = keras.ops.convert_to_numpy(extractor(x, training=True))
    infer = keras.ops.convert_to_numpy(extractor(x, training=False))
    # Frozen: the very same inference ops, equal; trainable: batch statistics instead of
    # the stored ones, differences of order 1. 1e-3 separates the two on any CPU.
    assert np.allclose(train, infer, atol=1e-3) == same


def test_set_trainable_modes():
    model = densenet.build_model(image_size=SIZE)

    def trainable(mode):
        densenet.set_trainable(model, mode)
        return {v.path.split("/")[0] for v in model.trainable_weights}

    assert trainable("head") == {"logits"}
    last1, last2 = trainable("last_blocks:1"), trainable("last_blocks:2")
    assert {"conv5_block1_1_conv", "conv5_block16_2_conv", "bn", "logits"} <= last1
    assert not {"pool4_conv", "conv4_block24_2_conv"} & last1
    assert {"pool4_conv", "conv4_block1_1_conv"} <= last2
    assert "pool3_conv" not in last2
    assert "conv2_block1_1_conv" in trainable("last_blocks:4")
    assert "conv1_conv" not in trainable("last_blocks:4")
    assert trainable("all") == {v.path.split("/")[0] for v in model.weights if v.trainable}
    assert "conv1_conv" in trainable("all")
    counts = [len(trainable(f"last_blocks:{n}")) for n in range(1, 5)]
    assert counts == sorted(set(counts))
    for bad in ("last_blocks:0", "last_blocks:5", "last_blocks:x", "backbone"):
        with pytest.raises(UserError):
            densenet.set_trainable(model, bad)


@pytest.mark.parametrize("suffix", [".weights.h5", ".h5"])
def test_local_weights_file_loads_the_backbone(tmp_path, suffix):
    source = densenet.build_model(image_size=SIZE)
    path = tmp_path / f"densenet121_notop{suffix}"
    if suffix == ".h5":
        densenet.backbone(source).save(path)  # legacy HDF5, like Keras's ImageNet file
    else:
        densenet.backbone(source).save_weights(path)

    # Another image size: backbone weights do not depend on it.
    loaded = densenet.build_model(image_size=2 * SIZE, weights=path)
    fresh = densenet.build_model(image_size=2 * SIZE)

    expected = weights_by_path(densenet.backbone(source))
    got = weights_by_path(densenet.backbone(loaded))
    assert expected.keys() == got.keys() and len(got) > 600
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
    kernel = "conv5_block16_2_conv/kernel"
    assert not np.array_equal(weights_by_path(fresh)[kernel], expected[kernel])


def test_missing_weights_file_raises(tmp_path):
    with pytest.raises(UserError, match="nope.h5"):
        densenet.build_model(image_size=SIZE, weights=tmp_path / "nope.h5")


def test_imagenet_offline_error_names_the_file_and_the_alternative(monkeypatch):
    keras_home = pathlib.Path(os.environ.get("KERAS_HOME", pathlib.Path.home() / ".keras"))
    if (keras_home / "models" / densenet.IMAGENET_NOTOP_FILE).exists():
        pytest.skip("ImageNet weights are cached; Keras would not download them")

    def offline(*args, **kwargs):
        raise urllib.error.URLError("simulated: no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(UserError) as error:
        densenet.build_model(image_size=SIZE, weights="imagenet")
    message = str(error.value)
    assert "\n" not in message
    assert densenet.IMAGENET_NOTOP_FILE in message and "simulated: no network" in message
    assert f"--config.model.weights=/path/to/{densenet.IMAGENET_NOTOP_FILE}" in message


def test_saved_model_loads_back(tmp_path):
    model = densenet.build_model(image_size=SIZE)
    densenet.head_model(model)  # extra uses of the head layers must not break saving
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(images())),
        keras.ops.convert_to_numpy(model(images())),
        atol=1e-4,  # the same weights and ops; only a different fusion could round otherwise
    )
    assert loaded.get_layer(densenet.GRADCAM_LAYER).name == "relu"


@pytest.mark.large
def test_this_file_passes_under_the_other_backend():
    rerun_under_the_other_backend(__file__)
