"""Every registered backbone, by the same checks: a new entry is tested without editing this.

Build, forward, Grad-CAM's named feature map, preprocessing against the family's own
`preprocess_input`, `last_blocks:1`, and a save and load. Random weights and a small
input keep it cheap.
"""

import importlib

import keras
import numpy as np
import pytest

from cxr.errors import UserError
from cxr.model import backbones, classifier, freezing, layer_names, preprocessing, saved
from cxr.saliency import gradcam

# The family's own keras.applications module, whose preprocess_input each entry's
# in-model preprocessing must reproduce (tiny uses DenseNet's).
REFERENCE = {
    "tiny": "densenet",
    "densenet121": "densenet",
    "densenet169": "densenet",
    "densenet201": "densenet",
    "resnet50v2": "resnet_v2",
    "efficientnetv2b0": "efficientnet_v2",
    "efficientnetv2s": "efficientnet_v2",
    "convnexttiny": "convnext",
    "xception": "xception",
    "inceptionv3": "inception_v3",
    "mobilenetv3large": "mobilenet_v3",
}


def size_of(entry):
    """The smallest input at which the feature map is at least 1 x 1."""
    return max(entry.min_size, 64)


def gray_images(n, size, seed=0):
    gray = np.random.default_rng(seed).integers(0, 256, (n, size, size, 1)).astype(np.float32)
    return np.repeat(gray, 3, axis=-1)


@pytest.mark.parametrize("name", backbones.names())
def test_every_backbone_builds_explains_freezes_and_reloads(name, tmp_path):
    entry = backbones.get(name)
    size = size_of(entry)
    model = classifier.build_model(backbone=name, num_labels=3, image_size=size)
    x = gray_images(2, size)

    logits = keras.ops.convert_to_numpy(model(x))
    assert logits.shape == (2, 3) and np.isfinite(logits).all()
    feature_map = model.get_layer(classifier.FEATURE_MAP_LAYER).output
    assert feature_map.shape[-1] == entry.feature_width
    assert classifier.backbone_name(model) == name

    grids = gradcam.class_activation_grid(model, x, [0, 2])
    assert grids.shape == (2, *feature_map.shape[1:3]) and np.isfinite(grids).all()

    freezing.set_trainable(model, "last_blocks:1")
    last = {v.path for v in model.trainable_weights}
    freezing.set_trainable(model, "all")
    assert {"logits/kernel", "logits/bias"} < last < {v.path for v in model.trainable_weights}

    model.save(tmp_path / "model.keras")
    loaded = saved.load_model(tmp_path / "model.keras", num_labels=3)
    # The same weights and ops in a new graph: only a different fusion could round.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), logits, atol=1e-4)


@pytest.mark.parametrize("name", backbones.names())
def test_in_model_preprocessing_is_the_familys_own(name):
    """A known image: raw gray-as-RGB pixels through the model's first layers equal
    keras.applications' `preprocess_input` of the family to the last bit (identity where
    the application preprocesses inside itself)."""
    inputs = keras.Input((32, 32, 3))
    first = keras.Model(inputs, preprocessing.apply(backbones.get(name).preprocessing, inputs))
    assert first.layers[-1].name == layer_names.PREPROCESS_LAYER and not first.weights
    x = gray_images(1, 32, seed=1)
    ours = keras.ops.convert_to_numpy(first(x))
    module = importlib.import_module(f"keras.applications.{REFERENCE[name]}")
    reference = keras.ops.convert_to_numpy(module.preprocess_input(x.copy()))
    np.testing.assert_array_equal(ours, reference)


def test_the_registry_refuses_unknown_and_repeated_names():
    with pytest.raises(UserError, match="densenet121"):
        backbones.get("densenet122")
    with pytest.raises(ValueError, match="twice"):
        backbones.register(backbones.get("tiny"))


def test_a_backbone_registered_from_a_test_runs_through_the_classifier(tmp_path):
    """The door: one `register` call, and the classifier, freezing, Grad-CAM and loading
    take the new network without a change anywhere else."""

    def build(inputs, weights):
        x = keras.layers.Conv2D(4, 3, strides=4, name="mine_block1_conv")(inputs)
        return keras.layers.Conv2D(6, 3, strides=8, name="mine_block2_conv")(x)

    backbones.register(
        backbones.Backbone(
            name="mine",
            build=build,
            preprocessing="tf",
            weights_file=None,
            feature_width=6,
            blocks="conv (2)",
            block_starts=("mine_block1", "mine_block2"),
        )
    )
    try:
        model = classifier.build_model(backbone="mine", num_labels=2, image_size=64)
        freezing.set_trainable(model, "last_blocks:1")
        trained = {v.path.split("/")[0] for v in model.trainable_weights}
        assert trained == {"mine_block2_conv", "logits"}
        assert [stage for stage, _ in freezing.cascade_stages(model)] == [
            "logits",
            "block2",
            "block1",
        ]
        assert gradcam.class_activation_grid(model, gray_images(1, 64), [1]).shape == (1, 2, 2)
        model.save(tmp_path / "mine.keras")
        assert saved.load_model(tmp_path / "mine.keras").name == "cxr_mine"
    finally:
        backbones.unregister("mine")
