"""DenseNet121 itself: its blocks, its weights files, and models saved before the registry."""

import os
import pathlib
import urllib.error
import urllib.request

import keras
import numpy as np
import pytest

from cxr.errors import UserError
from cxr.model import backbones, classifier, freezing, saved

SIZE = 32  # the smallest input DenseNet121 accepts; keeps every test fast
WEIGHTS_FILE = backbones.get("densenet121").weights_file
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def raw_images(n=4, size=SIZE, seed=0):
    gray = np.random.default_rng(seed).integers(0, 256, (n, size, size, 1), dtype=np.uint8)
    return np.repeat(gray.astype(np.float32), 3, axis=-1)


def weights_by_path(model):
    return {v.path: keras.ops.convert_to_numpy(v) for v in model.weights}


def test_set_trainable_modes():
    model = classifier.build_model(image_size=SIZE)

    def trainable(mode):
        freezing.set_trainable(model, mode)
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
            freezing.set_trainable(model, bad)


def test_the_cascade_keeps_densenets_named_stages():
    stages = [
        stage for stage, _ in freezing.cascade_stages(classifier.build_model(image_size=SIZE))
    ]
    assert stages == [
        "logits",
        "bn",
        "conv5",
        "pool4",
        "conv4",
        "pool3",
        "conv3",
        "pool2",
        "conv2",
        "conv1",
    ]


@pytest.mark.parametrize("suffix", [".weights.h5", ".h5"])
def test_local_weights_file_loads_the_backbone(tmp_path, suffix):
    source = classifier.build_model(image_size=SIZE)
    path = tmp_path / f"densenet121_notop{suffix}"
    if suffix == ".h5":
        classifier.backbone(source).save(path)  # legacy HDF5, like Keras's ImageNet file
    else:
        classifier.backbone(source).save_weights(path)

    # Another image size: backbone weights do not depend on it.
    loaded = classifier.build_model(image_size=2 * SIZE, weights=path)
    fresh = classifier.build_model(image_size=2 * SIZE)

    expected = weights_by_path(classifier.backbone(source))
    got = weights_by_path(classifier.backbone(loaded))
    assert expected.keys() == got.keys() and len(got) > 600
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
    kernel = "conv5_block16_2_conv/kernel"
    assert not np.array_equal(weights_by_path(fresh)[kernel], expected[kernel])


def test_missing_weights_file_raises(tmp_path):
    with pytest.raises(UserError, match="nope.h5"):
        classifier.build_model(image_size=SIZE, weights=tmp_path / "nope.h5")


def test_imagenet_offline_error_names_the_file_and_the_alternative(monkeypatch):
    keras_home = pathlib.Path(os.environ.get("KERAS_HOME", pathlib.Path.home() / ".keras"))
    if (keras_home / "models" / WEIGHTS_FILE).exists():
        pytest.skip("ImageNet weights are cached; Keras would not download them")

    def offline(*args, **kwargs):
        raise urllib.error.URLError("simulated: no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(UserError) as error:
        classifier.build_model(image_size=SIZE, weights="imagenet")
    message = str(error.value)
    assert "\n" not in message
    assert WEIGHTS_FILE in message and "simulated: no network" in message
    assert f"--config.model.weights=/path/to/{WEIGHTS_FILE}" in message


def legacy_model(num_labels=3, size=SIZE):
    """A classifier as cxr built it before the registry: DenseNet121 on inputs the
    pipeline had already normalised, no preprocess or feature_map layer."""
    inputs = keras.Input(shape=(size, size, 3), name="image")
    net = keras.applications.DenseNet121(
        include_top=False, weights=None, input_tensor=inputs, input_shape=(size, size, 3)
    )
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(net.output)
    x = keras.layers.Dropout(0.25, name="head_dropout")(x)
    logits = keras.layers.Dense(num_labels, dtype="float32", name="logits")(x)
    return keras.Model(inputs, logits, name="cxr_densenet121")


def test_a_model_saved_before_the_registry_loads_with_its_preprocessing_inside(tmp_path):
    old = legacy_model()
    old.save(tmp_path / "model.keras")
    new = saved.load_model(tmp_path / "model.keras", num_labels=3)
    assert new.get_layer(classifier.FEATURE_MAP_LAYER) is not None
    assert new.get_layer("head_dropout").rate == 0.25
    x = raw_images()
    normalised = (x / 255.0 - MEAN) / STD  # what the input pipeline fed it then
    # One multiply-add in the model against divide-then-subtract: inputs a few ulps
    # apart, through 121 layers; 1e-4 on logits of order 1 holds on any x86 CPU.
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(new(x)), keras.ops.convert_to_numpy(old(normalised)), atol=1e-4
    )
