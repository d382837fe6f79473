"""Grad-CAM: equal to CAM for this head, batching-invariant, the same on TF and JAX; its
signed grid (Wang et al.'s heatmap) and the upsampling that makes Grad-CAM of it."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from cxr.model import classifier
from cxr.saliency.gradcam import class_activation_grid, gradcam, upsample
from cxr_tfds.labels import LABELS

SIZE = 64  # a 2 x 2 feature map: small, yet with something to localise


def images(n, seed=0):
    return np.random.default_rng(seed).normal(size=(n, SIZE, SIZE, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return classifier.build_model(backbone="tiny", num_labels=len(LABELS), image_size=SIZE)


def test_gradcam_equals_cam_from_the_dense_weights(model):
    x, classes = images(6), np.array([0, 3, 5, 7, 9, 13])
    heatmaps = gradcam(model, x, classes)

    # CAM (Zhou et al. 2016): the logits layer's kernel column weighs the channels.
    conv = keras.ops.convert_to_numpy(classifier.backbone(model)(x))
    kernel = keras.ops.convert_to_numpy(model.get_layer(classifier.LOGITS_LAYER).kernel)
    cam = np.maximum(np.einsum("nhwk,kn->nhw", conv, kernel[:, classes]), 0.0)
    cam = keras.ops.convert_to_numpy(keras.ops.image.resize(cam[..., None], (SIZE, SIZE)))[..., 0]
    low, span = cam.min(axis=(1, 2), keepdims=True), np.ptp(cam, axis=(1, 2), keepdims=True)
    expected = np.divide(cam - low, span, out=np.zeros_like(cam), where=span > 0)

    assert (span > 0).sum() >= 3  # not trivial
    # Gradient-weighted (TF or JAX) against numpy's einsum: float32 sums over 1,024
    # channels in other orders, up to K * eps = 6e-5 of the summed magnitudes, which
    # normalisation can magnify where channels cancel. A wrong map is off by ~0.1-1.
    np.testing.assert_allclose(heatmaps, expected, atol=1e-3)


def test_shape_range_and_batching(model):
    x = images(5, seed=1)
    heatmaps = gradcam(model, x, 4)
    assert heatmaps.shape == (5, SIZE, SIZE) and heatmaps.dtype == np.float32
    assert heatmaps.min() >= 0.0 and heatmaps.max() <= 1.0
    for peak in heatmaps.max(axis=(1, 2)):
        assert peak == pytest.approx(1.0) or peak == 0.0
    # Another batch size lets oneDNN pick other conv kernels, so float32 sums over
    # 1,024 channels round otherwise: 1.25e-6 seen on an AMD EPYC, 0 on an Intel Xeon;
    # K * eps = 6e-5 bounds it on any x86 CPU, and a batching bug is off by far more.
    tolerance = 1e-4
    np.testing.assert_allclose(gradcam(model, x, 4, batch_size=2), heatmaps, atol=tolerance)

    classes = np.array([4, 1, 4, 1, 2])
    mixed = gradcam(model, x, classes, batch_size=2)
    for label in (1, 2, 4):
        np.testing.assert_allclose(
            mixed[classes == label], gradcam(model, x, label)[classes == label], atol=tolerance
        )
    assert gradcam(model, x[:0], 0).shape == (0, SIZE, SIZE)


def test_no_positive_evidence_gives_an_all_zero_map(model):
    logits = model.get_layer(classifier.LOGITS_LAYER)
    kernel = keras.ops.convert_to_numpy(logits.kernel)
    logits.kernel.assign(np.zeros_like(kernel))
    try:
        heatmaps = gradcam(model, images(2), 0, batch_size=2)
    finally:
        logits.kernel.assign(kernel)
    assert heatmaps.shape == (2, SIZE, SIZE) and not heatmaps.any()


def tiny_model():
    """conv (stride 4: a 5 x 5 grid) -> ReLU -> global average pooling -> Dense, like our head."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input(shape=(20, 20, 3))
    conv = keras.layers.Conv2D(8, 4, strides=4)(inputs)
    activations = keras.layers.ReLU(name="act")(conv)
    pooled = keras.layers.GlobalAveragePooling2D()(activations)
    return keras.Model(inputs, keras.layers.Dense(4, name="logits")(pooled))


def test_the_grid_is_cam_over_its_cells_signed_and_gradcam_is_its_upsampling():
    model, classes = tiny_model(), np.array([0, 1, 2, 3, 1])
    x = np.random.default_rng(2).normal(size=(5, 20, 20, 3)).astype(np.float32)
    grids = class_activation_grid(model, x, classes, layer_name="act", batch_size=2)

    # CAM (Zhou et al.; Wang et al.'s heatmap): activations times the Dense kernel column.
    a = keras.ops.convert_to_numpy(keras.Model(model.input, model.get_layer("act").output)(x))
    kernel = keras.ops.convert_to_numpy(model.get_layer("logits").kernel)
    cam = np.einsum("nhwk,kn->nhw", a, kernel[:, classes])
    assert grids.shape == (5, 5, 5) and (cam < 0).any() and (cam > 0).any()
    # Grad-CAM without ReLU is CAM / (h * w) (the pooling's gradient). float32 sums of 8
    # products of order 1: rounding ~1e-6 on any CPU; a missing or extra ReLU is off by ~0.1.
    np.testing.assert_allclose(grids * 25, cam, atol=1e-5)
    np.testing.assert_array_equal(
        gradcam(model, x, classes, layer_name="act", batch_size=2), upsample(grids, (20, 20))
    )


def test_a_map_without_positive_evidence_is_empty_for_gradcam_not_on_the_grid():
    model = tiny_model()
    dense = model.get_layer("logits")
    kernel = keras.ops.convert_to_numpy(dense.kernel)
    dense.kernel.assign(-np.abs(kernel))  # activations are >= 0 after ReLU: CAM <= 0 everywhere
    x = np.random.default_rng(3).normal(size=(2, 20, 20, 3)).astype(np.float32)
    grids = class_activation_grid(model, x, 0, layer_name="act")
    assert (grids <= 0).all() and (np.ptp(grids, axis=(1, 2)) > 0).all()  # a peak to box
    assert not gradcam(model, x, 0, layer_name="act").any()  # ReLU left nothing


def test_upsample_is_relu_then_half_pixel_bilinear_then_min_max():
    grid = np.full((1, 7, 7), -1.0)
    grid[0, 3, 3], grid[0, 0, 6] = 2.0, 1.0
    # Reference: ReLU, then separable linear interpolation at half-pixel centres, edges flat.
    relu = np.maximum(grid[0], 0.0)
    src = (np.arange(56) + 0.5) * 7 / 56 - 0.5
    rows = np.stack([np.interp(src, np.arange(7), column) for column in relu.T], axis=1)
    expected = np.stack([np.interp(src, np.arange(7), row) for row in rows])
    expected = (expected - expected.min()) / np.ptp(expected)
    # float32 interpolation against float64: ~1e-7 of the maximum, 1.
    np.testing.assert_allclose(upsample(grid, (56, 56))[0], expected, atol=1e-5)
    assert upsample(np.zeros((0, 7, 7)), (56, 56)).shape == (0, 56, 56)


# Run in a fresh interpreter per backend: the backend is fixed at import.
CROSS_BACKEND_SCRIPT = f"""
import sys
import keras, numpy as np
from cxr.model import classifier, saved
from cxr.saliency.gradcam import gradcam

tmp = sys.argv[1]
keras.utils.set_random_seed(0)
model = classifier.build_model(backbone="tiny", num_labels=14, image_size={SIZE})
if keras.backend.backend() == "tensorflow":  # runs first: writes the weights and images
    model.save_weights(tmp + "/model.weights.h5")
    x = np.random.default_rng(0).normal(size=(6, {SIZE}, {SIZE}, 3)).astype("float32")
    np.save(tmp + "/images.npy", x)
model.load_weights(tmp + "/model.weights.h5")
x = np.load(tmp + "/images.npy")
heatmaps = gradcam(model, x, np.arange(6) * 2, batch_size=4)
np.save(tmp + "/heatmaps_" + keras.backend.backend() + ".npy", heatmaps)
"""


@pytest.mark.large
def test_tensorflow_and_jax_give_the_same_heatmaps(tmp_path):
    for backend in ("tensorflow", "jax"):
        result = subprocess.run(
            [sys.executable, "-c", CROSS_BACKEND_SCRIPT, str(tmp_path)],
            env={**os.environ, "KERAS_BACKEND": backend},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr[-5000:]
    tf_maps = np.load(tmp_path / "heatmaps_tensorflow.npy")
    jax_maps = np.load(tmp_path / "heatmaps_jax.npy")
    assert tf_maps.shape == (6, SIZE, SIZE) and tf_maps.max(axis=(1, 2)).sum() >= 3
    # Two backends' conv and resize kernels: float32 rounding of different sums, well
    # under 1e-3 of the maximum (1) on any CPU; a real disagreement is of order 0.1.
    np.testing.assert_allclose(jax_maps, tf_maps, atol=1e-3)
