"""Gradients of one logit per row with respect to a Keras model's input, on TensorFlow or JAX.

    scores, grads = logit_gradients(model, x, classes)  # (B,), x's shape

The one backend-specific piece the gradient-based saliency methods
(`cxr.saliency.methods`: Grad-CAM++, Integrated Gradients, SmoothGrad) need.
The score differentiated is the logit (before the sigmoid), as is usual for
attribution; each row's own label is its score. Rows do not interact in
inference, so the gradient of the sum of the rows' scores is each row's gradient.

Each call compiles once per model and batch shape (`tf.function`, `jax.jit`);
the weights are read at call time, so a model whose weights were re-initialised
(`cxr.saliency.sanity`) is differentiated with its new weights.
"""

import weakref

import keras
import numpy as np

# model -> its compiled gradient function, kept so that later calls reuse it.
_COMPILED = weakref.WeakKeyDictionary()
# model -> {layer name: (backbone, head)}, so that a head's compiled gradients are reused.
_SPLITS = weakref.WeakKeyDictionary()


def logit_gradients(model, x, classes):
    """Each row's logit of its own label and that logit's gradient with respect to the row.

    Args:
        model: A `keras.Model` with one input and logits (B, L) as output.
        x: float32 inputs (B, ...).
        classes: B ints, the label of each row.

    Returns:
        (scores, grads): float32 (B,) logits and float32 gradients shaped like `x`.
    """
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax"):
        raise NotImplementedError(f"saliency gradients run on TensorFlow or JAX, not {backend}.")
    if model not in _COMPILED:
        _COMPILED[model] = _tf_function(model) if backend == "tensorflow" else _jax_function(model)
    x = np.asarray(x, dtype=np.float32)
    onehot = np.eye(model.output.shape[-1], dtype=np.float32)[np.asarray(classes)]
    scores, grads = _COMPILED[model](x, onehot)
    return np.asarray(scores, dtype=np.float32), np.asarray(grads, dtype=np.float32)


def split(model, layer_name):
    """The sub-models input -> `layer_name`'s output and that output -> logits.

    The layer's output must cut the graph (true for DenseNet121's last
    activation, `cxr.model.layer_names.GRADCAM_LAYER`). The sub-models share the
    model's layers, hence its weights.
    """
    splits = _SPLITS.setdefault(model, {})
    if layer_name not in splits:
        layer_output = model.get_layer(layer_name).output
        splits[layer_name] = (
            keras.Model(model.input, layer_output),
            keras.Model(layer_output, model.output),
        )
    return splits[layer_name]


def _tf_function(model):
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def scores_and_grads(x, onehot):
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = tf.cast(model(x, training=False), tf.float32)
            scores = tf.reduce_sum(logits * onehot, axis=-1)
            total = tf.reduce_sum(scores)
        return scores, tape.gradient(total, x)

    return lambda x, onehot: [t.numpy() for t in scores_and_grads(tf.constant(x), onehot)]


def _jax_function(model):
    import jax

    def total_score(x, onehot, trainable, non_trainable):
        logits, _ = model.stateless_call(trainable, non_trainable, x, training=False)
        scores = (logits.astype("float32") * onehot).sum(axis=-1)
        return scores.sum(), scores

    grad = jax.jit(jax.grad(total_score, has_aux=True))

    def scores_and_grads(x, onehot):
        # Host copies of the current weights: arguments, not constants, so one
        # compilation serves re-initialised weights too.
        trainable = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
        non_trainable = [keras.ops.convert_to_numpy(v) for v in model.non_trainable_variables]
        grads, scores = grad(x, onehot, trainable, non_trainable)
        return scores, grads

    return scores_and_grads
