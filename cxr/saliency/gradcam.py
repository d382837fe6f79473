"""Grad-CAM heatmaps (Selvaraju et al., ICCV 2017) for the DenseNet121 classifier.

    heatmaps = gradcam(model, images, class_indices=LABELS.index("Cardiomegaly"))
    grids = class_activation_grid(model, images, class_indices)  # signed, (N, 7, 7)

For a label c and the activations A (h, w, K) of the last conv layer, Grad-CAM
weighs each channel by its averaged gradient, alpha_k = mean_ij d logit_c / d A_ijk,
and keeps the positive evidence: ReLU(sum_k alpha_k A_k). With the head of
`cxr.model.classifier` (global average pooling, then one Dense layer; dropout is
the identity in inference) the gradient is the Dense kernel column divided by
h * w, so the map before the ReLU is the original CAM (Zhou et al., CVPR 2016)
divided by h * w.

Two maps, one computation:

- `class_activation_grid`: that signed map on the conv grid, no ReLU, no
  upsampling: Wang et al.'s heatmap (`cxr.saliency.localization`);
- `gradcam` ("Grad-CAM"): `upsample` of it: ReLU, bilinear to the image size,
  min-max; for galleries, `cxr predict` and the pointing game.

The model is split at the conv layer: the backbone runs once through
`cxr.runtime.distribution.predict` (compiled, padded batches, on every device the model was
built for) and only the small head is differentiated, on this process alone, with
`tf.GradientTape` on TensorFlow and `jax.vjp` on JAX.
"""

import keras
import numpy as np

from cxr.model.layer_names import GRADCAM_LAYER
from cxr.runtime import distribution
from cxr.saliency import gradients


def gradcam(model, images, class_indices, *, layer_name=GRADCAM_LAYER, batch_size=32):
    """Computes one Grad-CAM heatmap per image, for one label per image.

    Args:
        model: A `keras.Model` mapping images to logits, e.g. from
            `cxr.model.classifier.build_model`. The output of `layer_name` must cut the
            graph: the logits may depend on the images only through it (true
            for "feature_map", the identity on the backbone's last feature map).
        images: Model inputs, float (N, S, S, 3) in [0, 255], as
            `cxr.data.datasets.batches` yields them.
        class_indices: The label to explain: an int for all images, or N ints,
            one per image (indices into the model's logits).
        layer_name: The conv layer whose activations are weighed.
        batch_size: Images per backbone batch and per gradient step; the
            images are padded to whole batches, so that each batch size
            compiles once per model. A multiple of the devices.

    Returns:
        float32 heatmaps (N, S, S): `upsample` of `class_activation_grid`, so
        ReLU of the gradient-weighted activations, upsampled bilinearly to the
        image size and min-max normalised per image, in [0, 1] with a maximum
        of 1; a constant map (e.g. one without positive evidence) becomes all zeros.
    """
    grids = class_activation_grid(
        model, images, class_indices, layer_name=layer_name, batch_size=batch_size
    )
    return upsample(grids, np.shape(images)[1:3])


def class_activation_grid(model, images, class_indices, *, layer_name=GRADCAM_LAYER, batch_size=32):
    """The signed map on the conv layer's own grid: Grad-CAM before its ReLU.

    sum_k alpha_k A_k, negative where the evidence speaks against the label. For
    the head of `cxr.model.classifier` it is the class activation map (Zhou et al.;
    Wang et al.'s heatmap, `cxr.saliency.localization`) divided by h * w.

    Args:
        model, images, class_indices, layer_name, batch_size: As for `gradcam`.

    Returns:
        float32 (N, h, w), h and w the conv layer's (7 x 7 for DenseNet121 at 224 px).
    """
    head_gradients = {"tensorflow": _tf_gradients, "jax": _jax_gradients}.get(
        keras.backend.backend()
    )
    if head_gradients is None:
        raise NotImplementedError(
            f"gradcam runs on TensorFlow or JAX, not {keras.backend.backend()}."
        )
    images = np.asarray(images, dtype=np.float32)
    n = len(images)
    classes = np.broadcast_to(np.asarray(class_indices, dtype=np.int32), (n,))
    backbone, head = gradients.split(model, layer_name)  # cached per model
    if n == 0:
        return np.zeros((0, *backbone.output.shape[1:3]), dtype=np.float32)
    activations = distribution.predict(backbone, images, batch_size)
    grids = []
    for start in range(0, n, batch_size):
        batch = activations[start : start + batch_size]
        grads = head_gradients(head, batch, classes[start : start + batch_size])
        weights = grads.mean(axis=(1, 2), keepdims=True)  # alpha_k, (B, 1, 1, K)
        grids.append((weights * batch).sum(axis=-1))
    return np.concatenate(grids).astype(np.float32)


def upsample(grids, size):
    """Grad-CAM's heatmaps from `class_activation_grid`: ReLU, bilinear to `size`, min-max.

    Args:
        grids: (N, h, w) signed maps.
        size: (S, S) of the images.

    Returns:
        float32 (N, S, S) in [0, 1], as `gradcam` returns them.
    """
    cams = np.maximum(np.asarray(grids, dtype=np.float32), 0.0)[..., None]
    if not len(cams):
        return np.zeros((0, *size), dtype=np.float32)
    # Bilinear with half-pixel centres on both backends (tf.image / jax.image).
    upsampled = keras.ops.image.resize(cams, tuple(size), interpolation="bilinear")
    upsampled = np.maximum(keras.ops.convert_to_numpy(upsampled)[..., 0], 0.0, dtype=np.float32)
    # Min-max per image (as pytorch-grad-cam does): the same as dividing by
    # the maximum when ReLU zeroed some pixel, more contrast when it did not.
    low = upsampled.min(axis=(1, 2), keepdims=True)
    span = upsampled.max(axis=(1, 2), keepdims=True) - low
    return np.divide(upsampled - low, span, out=np.zeros_like(upsampled), where=span > 0)


def _tf_gradients(head, activations, classes):
    """d logit_c / d A for each image's own label c, with `tf.GradientTape`."""
    import tensorflow as tf

    activations = tf.convert_to_tensor(activations)
    with tf.GradientTape() as tape:
        tape.watch(activations)
        logits = tf.cast(head(activations, training=False), tf.float32)
        # Images do not interact in inference, so the gradient of the sum is
        # each image's gradient of its own score.
        score = tf.reduce_sum(logits * tf.one_hot(classes, logits.shape[-1]))
    return tape.gradient(score, activations).numpy()


def _jax_gradients(head, activations, classes):
    """d logit_c / d A for each image's own label c, with `jax.vjp`."""
    import jax

    # Host copies: with several processes the variables span every process's devices,
    # and these gradients are this process's own work.
    trainable = [keras.ops.convert_to_numpy(v) for v in head.trainable_variables]
    non_trainable = [keras.ops.convert_to_numpy(v) for v in head.non_trainable_variables]

    def logits_of(a):
        logits, _ = head.stateless_call(trainable, non_trainable, a, training=False)
        return logits.astype("float32")

    logits, vjp = jax.vjp(logits_of, jax.numpy.asarray(activations))
    (grads,) = vjp(jax.nn.one_hot(classes, logits.shape[-1], dtype=logits.dtype))
    return np.asarray(grads)
