"""Saliency maps behind one interface: one map per (image, label), at the image's size.

    maps = saliency_maps(model, images, class_indices, method="ig", steps=50)  # (N, S, S)
    METHODS["ig"].paper, METHODS["ig"].defaults

The methods, their options and properties are entries of `cxr.saliency.registry`
(`METHODS` here is that dict); this module holds the functions that make the maps.

Every method explains the logit of the label (before the sigmoid), as is usual;
the maps are raw, not normalised, except Grad-CAM's and Grad-CAM++'s (ReLU,
bilinear upsampling, min-max to [0, 1], as `cxr.saliency.gradcam` makes them).
`signed` says whether a method's maps can be negative (evidence against the label).

- "cam": Zhou et al., CVPR 2016, "Learning Deep Features for Discriminative
  Localization": sum_k w_k^c A_k, the logit's Dense weights on the last conv
  activations, upsampled bilinearly to the image, signed. With the head of
  `cxr.model.classifier` it is h * w times `gradcam.class_activation_grid`.
- "gradcam": Selvaraju et al., ICCV 2017: `cxr.saliency.gradcam.gradcam`.
- "gradcam++": Chattopadhay et al., WACV 2018, "Grad-CAM++", with the closed-form
  alpha the paper derives (its Eq. 19) for the exponential of the logit,
  S^c = exp(Y^c): alpha_ij^kc = g_ij^2 / (2 g_ij^2 + sum_ab A_ab^k g_ij^3), g = dY^c/dA^k,
  and w_k^c = sum_ij alpha_ij^kc ReLU(dS^c/dA_ij^k). dS/dA = exp(Y) g; the per-map factor
  exp(Y) > 0 is left out (the min-max normalisation removes it; it overflows for large
  logits). Second and higher derivatives of Y are taken as zero, as the paper does for
  ReLU networks. Where the denominator is 0 alpha is 0 (the paper leaves it open).
- "ig": Sundararajan et al., ICML 2017, "Axiomatic Attribution for Deep Networks":
  (x - x') times the right Riemann sum over `steps` points of the gradient along the
  straight path from the baseline x' (the paper's Eq. 3). Baseline: a black image in
  the model's input space, i.e. gray 0 as `cxr.data.datasets.model_input` gives it
  (raw pixels: the model normalises them itself, so this is black whatever the
  backbone, not a backbone's mean colour). Reduced to one map by the signed sum over the three channels,
  so the map still sums to f(x) - f(x') (completeness).
- "smoothgrad": Smilkov et al. 2017, "SmoothGrad: removing noise by adding noise",
  over plain gradients: the mean gradient over `samples` copies of the image with
  Gaussian noise of standard deviation `noise` times the image's range (max - min,
  in the model's input space; the paper's best were 10-20% and about 50 samples).
  Reduced by the signed sum over channels (the gradient with respect to the gray
  value); Smilkov et al. display absolute values,
  which a caller takes as it needs. `seed` fixes the noise.
- "occlusion": Zeiler & Fergus, ECCV 2014, "Visualizing and Understanding
  Convolutional Networks" (Sec. 4.2): a `patch` x `patch` square of `fill` (0.0 in
  the model's input space: the ImageNet mean colour, Zeiler & Fergus's grey square on
  mean-subtracted input) slides with `stride`; each pixel's value is the drop of the
  logit, f(x) - f(x occluded), averaged over the squares covering it. The last square
  of a row or column is placed flush with the edge, so every pixel is covered (the
  paper leaves the stride and the edges open).
"""

import keras
import numpy as np

from cxr.data.datasets import gray_model_input
from cxr.runtime import distribution
from cxr.saliency import gradcam
from cxr.saliency.gradients import logit_gradients, split
from cxr.saliency.registry import METHODS  # the entries; callers read METHODS here too


def saliency_maps(model, images, class_indices, *, method, batch_size=32, **options):
    """One saliency map per image, for one label per image.

    Args:
        model: A `keras.Model` mapping preprocessed images to logits, e.g. from
            `cxr.model.classifier.build_model`.
        images: Preprocessed float images (N, S, S, 3).
        class_indices: The label to explain: an int for all images, or N ints.
        method: A name in `METHODS`.
        batch_size: Rows per model call; calls are padded to it so each shape compiles once.
        **options: The method's options (`METHODS[method].defaults` names them).

    Returns:
        float32 maps (N, S, S).
    """
    if method not in METHODS:
        raise ValueError(f"unknown saliency method {method!r}; known: {', '.join(METHODS)}")
    spec = METHODS[method]
    unknown = set(options) - set(spec.defaults)
    if unknown:
        raise ValueError(f"{method} takes {sorted(spec.defaults)}, not {sorted(unknown)}")
    images = np.asarray(images, dtype=np.float32)
    classes = np.broadcast_to(np.asarray(class_indices, dtype=np.int32), (len(images),))
    maps = spec.function()(model, images, classes, batch_size, **{**spec.defaults, **options})
    return np.asarray(maps, dtype=np.float32).reshape(images.shape[:3])


def black_baseline(size):
    """Integrated Gradients' baseline: a black gray image (S, S, 3) in the model's input space."""
    return gray_model_input(np.zeros((1, *size), dtype=np.uint8))[0]


def gradients_in_batches(model, x, classes, batch_size):
    """`logit_gradients` over any number of rows, in calls of exactly `batch_size` rows."""
    scores, grads = [], []
    for start in range(0, len(x), batch_size):
        rows = x[start : start + batch_size]
        pad = batch_size - len(rows)
        padded = np.pad(rows, [(0, pad)] + [(0, 0)] * (rows.ndim - 1))
        labels = np.pad(classes[start : start + batch_size], (0, pad))
        s, g = logit_gradients(model, padded, labels)
        scores.append(s[: len(rows)])
        grads.append(g[: len(rows)])
    return np.concatenate(scores), np.concatenate(grads)


def cam(model, images, classes, batch_size, *, layer_name):
    """CAM (registry "cam"): the logit's Dense weights on `layer_name`, upsampled, signed."""
    grids = gradcam.class_activation_grid(
        model, images, classes, layer_name=layer_name, batch_size=batch_size
    )
    cams = grids * (grids.shape[1] * grids.shape[2])  # Zhou et al.'s sum, not Grad-CAM's mean
    resized = keras.ops.image.resize(cams[..., None], images.shape[1:3], interpolation="bilinear")
    return keras.ops.convert_to_numpy(resized)[..., 0]


def grad_cam(model, images, classes, batch_size, *, layer_name):
    """Grad-CAM (registry "gradcam"), as `cxr.saliency.gradcam.gradcam` makes it."""
    return gradcam.gradcam(model, images, classes, layer_name=layer_name, batch_size=batch_size)


def gradcam_plus_plus_weights(activations, grads):
    """Grad-CAM++'s channel weights w_k (Chattopadhay et al., Eq. 19 with S = exp(Y)).

    Args:
        activations: A (B, h, w, K), the conv layer's output.
        grads: dY/dA (B, h, w, K), Y the explained logit.

    Returns:
        (B, K): sum_ij alpha_ij ReLU(g_ij), without the positive factor exp(Y).
    """
    g2 = grads**2
    denominator = 2 * g2 + activations.sum(axis=(1, 2), keepdims=True) * grads**3
    alpha = np.divide(g2, denominator, out=np.zeros_like(g2), where=denominator != 0)
    return (alpha * np.maximum(grads, 0)).sum(axis=(1, 2))


def gradcam_plus_plus(model, images, classes, batch_size, *, layer_name):
    """Grad-CAM++ (registry "gradcam++"): `gradcam_plus_plus_weights` on `layer_name`."""
    backbone, head = split(model, layer_name)
    activations = distribution.predict(backbone, images, batch_size)
    _, grads = gradients_in_batches(head, activations, classes, batch_size)
    weights = gradcam_plus_plus_weights(activations, grads)
    grids = (weights[:, None, None, :] * activations).sum(axis=-1)
    return gradcam.upsample(grids, images.shape[1:3])


def integrated_gradients(model, images, classes, batch_size, *, steps):
    """Integrated Gradients (registry "ig") from the black baseline, `steps` points."""
    baseline = black_baseline(images.shape[1:3])
    fractions = np.arange(1, steps + 1, dtype=np.float32) / steps  # right Riemann sum
    maps = []
    for image, label in zip(images, classes, strict=True):
        path = baseline + fractions[:, None, None, None] * (image - baseline)
        _, grads = gradients_in_batches(model, path, np.full(steps, label), batch_size)
        maps.append(((image - baseline) * grads.mean(axis=0)).sum(axis=-1))
    return np.stack(maps) if maps else np.zeros(images.shape[:3], np.float32)


def smoothgrad(model, images, classes, batch_size, *, noise, samples, seed):
    """SmoothGrad (registry "smoothgrad"): mean gradient over `samples` noisy copies."""
    rng = np.random.default_rng(seed)
    maps = []
    for image, label in zip(images, classes, strict=True):
        sigma = noise * (image.max() - image.min())
        noisy = image + rng.normal(0.0, sigma, (samples, *image.shape)).astype(np.float32)
        _, grads = gradients_in_batches(model, noisy, np.full(samples, label), batch_size)
        maps.append(grads.mean(axis=0).sum(axis=-1))
    return np.stack(maps) if maps else np.zeros(images.shape[:3], np.float32)


def occlusion_starts(size, patch, stride):
    """Top-left corners along one side: every `stride`, the last flush with the edge."""
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] + patch < size:
        starts.append(size - patch)
    return starts


def occlusion(model, images, classes, batch_size, *, patch, stride, fill):
    """Occlusion (registry "occlusion"): the logit's drop under a sliding square."""
    if not 0 < stride <= patch:
        raise ValueError(f"occlusion needs 0 < stride <= patch to cover every pixel, not {stride}")
    height, width = images.shape[1:3]
    corners = [
        (y, x)
        for y in occlusion_starts(height, patch, stride)
        for x in occlusion_starts(width, patch, stride)
    ]
    base = distribution.predict(model, images, batch_size)[np.arange(len(images)), classes]
    maps = np.zeros(images.shape[:3], np.float32)
    counts = np.zeros((height, width), np.float32)
    for y, x in corners:
        counts[y : y + patch, x : x + patch] += 1
    for i, image in enumerate(images):
        # One batch of occluded copies at a time: 169 copies at 224 px would hold 100 MB.
        for start in range(0, len(corners), batch_size):
            chunk = corners[start : start + batch_size]
            occluded = np.repeat(image[None], len(chunk), axis=0)
            for j, (y, x) in enumerate(chunk):
                occluded[j, y : y + patch, x : x + patch] = fill
            drops = base[i] - distribution.predict(model, occluded, batch_size)[:, classes[i]]
            for drop, (y, x) in zip(drops, chunk, strict=True):
                maps[i, y : y + patch, x : x + patch] += drop
    return maps / counts
