"""Saliency methods on a tiny network, each against an independent reference."""

import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from cxr.model.layer_names import GRADCAM_LAYER
from cxr.saliency import gradcam
from cxr.saliency.gradients import logit_gradients
from cxr.saliency.methods import METHODS, black_baseline, gradcam_plus_plus_weights, saliency_maps
from tests.helpers.backends import rerun_under_the_other_backend

SIZE = 32  # tiny images: 8 x 8 conv grid, every test in seconds
# Small settings for the cross-backend comparison; same numpy noise on both backends.
CROSS_OPTIONS = {
    "cam": {},
    "gradcam": {},
    "gradcam++": {},
    "ig": {"steps": 8},
    "smoothgrad": {"samples": 4},
    "occlusion": {"patch": 8, "stride": 8},
}


def tiny_model(*, linear=False, seed=0):
    """Conv, conv, GAP, Dense: a cxr classifier's head and layer names, numpy weights.

    numpy weights give the same network on TensorFlow and JAX. `linear` drops the ReLUs.
    """
    activation = None if linear else "relu"
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation=activation, name="c1_conv")(
        inputs
    )
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="c2_conv")(x)
    x = keras.layers.Activation(activation or "linear", name=GRADCAM_LAYER)(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def images(n=3, seed=1):
    return np.random.default_rng(seed).normal(0, 1, (n, SIZE, SIZE, 3)).astype(np.float32)


def logits(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False)).astype(np.float64)


def test_gradients_match_finite_differences():
    model, x = tiny_model(linear=True), images(2)
    scores, grads = logit_gradients(model, x, [0, 2])
    # The same float32 forward pass in two graphs, ~1e-6 apart.
    np.testing.assert_allclose(scores, logits(model, x)[[0, 1], [0, 2]], rtol=1e-5, atol=1e-5)
    v = np.random.default_rng(2).normal(0, 1, x.shape).astype(np.float32)
    # On a linear network a central difference is exact at any step: only float32
    # rounding of logits of size ~10 (~1e-5) divided by 2 remains.
    fd = (logits(model, x + v) - logits(model, x - v))[[0, 1], [0, 2]] / 2
    np.testing.assert_allclose(fd, (grads * v).sum(axis=(1, 2, 3)), rtol=1e-4, atol=1e-4)


def test_integrated_gradients_completeness_improves_with_steps():
    model, x = tiny_model(), images(2)
    baseline = black_baseline((SIZE, SIZE))
    # Models take raw [0, 255] pixels (they normalise inside): black is 0 in every channel.
    np.testing.assert_array_equal(baseline, np.zeros((SIZE, SIZE, 3)))
    target = logits(model, x)[:, 1] - logits(model, baseline[None])[0, 1]
    errors = [
        np.abs(saliency_maps(model, x, 1, method="ig", steps=m).sum(axis=(1, 2)) - target).max()
        for m in (4, 32, 256)
    ]
    # The Riemann sum's error shrinks like 1/steps on a piecewise-linear path.
    assert errors[2] < errors[0]
    assert errors[2] < 0.02 * np.abs(target).max(), (errors, target)


def test_gradcam_plus_plus_weights_match_a_hand_loop():
    rng = np.random.default_rng(3)
    a = np.abs(rng.normal(0, 1, (2, 3, 3, 4)))
    g = rng.normal(0, 1, (2, 3, 3, 4))
    expected = np.zeros((2, 4))
    for b in range(2):
        for k in range(4):
            total = a[b, :, :, k].sum()
            for i in range(3):
                for j in range(3):
                    gij = g[b, i, j, k]
                    alpha = gij**2 / (2 * gij**2 + total * gij**3)
                    expected[b, k] += alpha * max(gij, 0.0)
    np.testing.assert_allclose(gradcam_plus_plus_weights(a, g), expected, rtol=1e-12)


def test_gradcam_plus_plus_map_uses_the_heads_analytic_gradient():
    model, x = tiny_model(), images(2)
    activations = keras.ops.convert_to_numpy(
        keras.Model(model.input, model.get_layer(GRADCAM_LAYER).output)(x)
    ).astype(np.float64)
    # GAP then Dense: dY_c / dA_ijk = W_kc / (h * w) at every position.
    kernel = model.get_layer("logits").get_weights()[0][:, 2]
    grads = np.broadcast_to(kernel / 64.0, activations.shape)
    weights = gradcam_plus_plus_weights(activations, grads)
    grids = np.einsum("bk,bijk->bij", weights, activations)
    expected = gradcam.upsample(grids, (SIZE, SIZE))
    # float32 activations and gradients (~1e-6 relative) through the same upsampling.
    np.testing.assert_allclose(saliency_maps(model, x, 2, method="gradcam++"), expected, atol=1e-4)


def _bilinear_half_pixel(grid, size):
    """Bilinear upsampling with half-pixel centres and clamped edges, one axis at a time."""
    h, w = grid.shape
    ys = np.clip((np.arange(size) + 0.5) * h / size - 0.5, 0, h - 1)
    xs = np.clip((np.arange(size) + 0.5) * w / size - 0.5, 0, w - 1)
    rows = np.stack([np.interp(ys, np.arange(h), grid[:, j]) for j in range(w)], axis=1)
    return np.stack([np.interp(xs, np.arange(w), rows[i]) for i in range(size)])


def test_cam_is_zhous_weighted_sum_upsampled():
    model, x = tiny_model(), images(2)
    activations = keras.ops.convert_to_numpy(
        keras.Model(model.input, model.get_layer(GRADCAM_LAYER).output)(x)
    ).astype(np.float64)
    kernel = model.get_layer("logits").get_weights()[0][:, 0]
    expected = [_bilinear_half_pixel(a @ kernel, SIZE) for a in activations]
    # float32 activations summed over 8 channels, ~1e-6 relative on any x86 CPU.
    np.testing.assert_allclose(saliency_maps(model, x, 0, method="cam"), expected, atol=1e-4)


def test_occlusion_matches_a_plain_loop():
    model, x = tiny_model(), images(2)
    patch, corners = 8, [0, 7, 14, 21, 24]  # stride 7; the last square flush with the edge
    base = logits(model, x)[:, 1]
    expected = np.zeros((2, SIZE, SIZE))
    for n in range(2):
        drops = {}
        for y in corners:
            for xx in corners:
                occluded = x[n : n + 1].copy()
                occluded[0, y : y + patch, xx : xx + patch] = 0.0
                drops[y, xx] = base[n] - logits(model, occluded)[0, 1]
        for i in range(SIZE):
            for j in range(SIZE):
                covering = [
                    d for (y, xx), d in drops.items() if y <= i < y + patch and xx <= j < xx + patch
                ]
                expected[n, i, j] = np.mean(covering)
    actual = saliency_maps(model, x, 1, method="occlusion", patch=patch, stride=7, batch_size=4)
    # Differences of float32 logits (~1e-6 each) from two call paths.
    np.testing.assert_allclose(actual, expected, atol=1e-4)


def test_smoothgrad_averages_gradients_at_the_stated_noise():
    model, x = tiny_model(), images(2)
    rng = np.random.default_rng(7)
    expected = []
    for image, label in zip(x, [0, 2], strict=True):
        sigma = 0.2 * (image.max() - image.min())
        noisy = image + rng.normal(0.0, sigma, (5, *image.shape)).astype(np.float32)
        grads = [logit_gradients(model, row[None], [label])[1][0] for row in noisy]
        expected.append(np.mean(grads, axis=0).sum(axis=-1))
    actual = saliency_maps(
        model, x, [0, 2], method="smoothgrad", noise=0.2, samples=5, seed=7, batch_size=4
    )
    # The same float32 gradients in batches of 4 and of 1 (~1e-6 relative).
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-6)
    # On a linear network every gradient is the same: the noise must average out exactly.
    linear = tiny_model(linear=True)
    plain = logit_gradients(linear, x, [1, 1])[1].sum(axis=-1)
    smooth = saliency_maps(linear, x, 1, method="smoothgrad", samples=3)
    np.testing.assert_allclose(smooth, plain, rtol=1e-4, atol=1e-6)


def test_registry_and_options():
    assert set(METHODS) == {"cam", "gradcam", "gradcam++", "ig", "smoothgrad", "occlusion"}
    with pytest.raises(ValueError, match="steps"):
        saliency_maps(tiny_model(), images(1), 0, method="occlusion", steps=3)
    with pytest.raises(ValueError, match="stride"):
        saliency_maps(tiny_model(), images(1), 0, method="occlusion", patch=4, stride=5)
    with pytest.raises(ValueError, match="unknown"):
        saliency_maps(tiny_model(), images(1), 0, method="lime")


def write_maps(path):
    """Every method's maps on the tiny network, for the other backend's process to compare."""
    model, x = tiny_model(), images(2)
    maps = {
        m: saliency_maps(model, x, [0, 2], method=m, **o).tolist() for m, o in CROSS_OPTIONS.items()
    }
    pathlib.Path(path).write_text(json.dumps(maps))


def test_maps_agree_across_backends_other_backend(tmp_path):
    other = "tensorflow" if keras.backend.backend() == "jax" else "jax"
    here = pathlib.Path(__file__).parent
    # This folder for `test_methods`, the repository root for `tests.helpers`.
    code = f"import sys; sys.path[:0] = [{str(here)!r}, {str(here.parents[1])!r}]; "
    code += f"import test_methods; test_methods.write_maps({str(tmp_path / 'maps.json')!r})"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "KERAS_BACKEND": other},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    theirs = json.loads((tmp_path / "maps.json").read_text())
    model, x = tiny_model(), images(2)
    for method, options in CROSS_OPTIONS.items():
        ours = saliency_maps(model, x, [0, 2], method=method, **options)
        # Two compilers (oneDNN, XLA) sum float32 in different orders: ~1e-6 relative per
        # op, a few ops deep; 1e-3 of the map's largest value holds on any x86 CPU.
        scale = np.abs(ours).max()
        np.testing.assert_allclose(theirs[method], ours, atol=1e-3 * scale, err_msg=method)


def test_other_backend():
    rerun_under_the_other_backend(__file__)
