"""Train-time augmentation (a `keras.layers.Pipeline` run in tf.data) and test-time augmentation.

    aug = augmenter(rotation=0.02, zoom=0.1, translation=0.05, contrast=0.1, seed=0)
    ds = ds.map(lambda x, y: (aug(x), y))          # float [B, S, S, 1] in [0, 255]
    logits = tta(model, flip=True).predict(x)      # logits of the mean probability

A `Pipeline`, unlike a `keras.Sequential`, is a plain layer that leaves tf.data's
tensors alone, so its preprocessing layers run as TensorFlow ops inside tf.data
under either Keras backend (tests/data/test_augment.py runs it under JAX too).

Off by default: on the quickstart nothing here beat no augmentation beyond seed
noise, and keras-cv's random resized crop (CheXNet's recipe) cost AUROC; TTA is an
evaluation option (`eval.tta_flip`, `eval.tta_crop`). The numbers are in the README's
"Augmentation and keras-cv".
"""

import keras

from cxr.errors import UserError


def augmenter(
    *, rotation=0.0, zoom=0.0, translation=0.0, contrast=0.0, flip=False, seed=0
) -> keras.layers.Pipeline:
    """Augments a batch `[B, S, S, 1]` of float gray images in [0, 255]; shape and range kept.

    A zero factor leaves its layer out; all zero is a `UserError`. Two pipelines
    built with the same arguments produce the same sequence of batches.

    Args:
        rotation: fraction of a full turn (0.02 = +-7 degrees).
        zoom: relative zoom range (+-).
        translation: fraction of the side (+-).
        contrast: relative contrast range (+-).
        flip: random horizontal flips (anatomy is lateralised: off by default).
        seed: seeds the layers, each its own stream.
    """
    # One seed per layer: layers seeded alike draw the same uniforms, so an image's
    # rotation angle and zoom would move together.
    seeds = iter(range(seed * 100, seed * 100 + 100))
    layers = []
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=next(seeds)))
    if rotation:
        layers.append(keras.layers.RandomRotation(rotation, fill_mode="constant", seed=next(seeds)))
    if zoom:
        layers.append(keras.layers.RandomZoom(zoom, fill_mode="constant", seed=next(seeds)))
    if translation:
        layers.append(
            keras.layers.RandomTranslation(
                translation, translation, fill_mode="constant", seed=next(seeds)
            )
        )
    if contrast:
        layers.append(keras.layers.RandomContrast(contrast, seed=next(seeds)))
    if not layers:  # and an empty Pipeline fails when called (Keras 3.15)
        raise UserError("augmentation is on but every augmentation factor is 0")
    return keras.layers.Pipeline(layers, name="augment")


def tta_views(*, flip, crop) -> str:
    """The extra views of `tta(flip=, crop=)` in words; a `UserError` for a bad `crop`.

    Returns "" when there are none (TTA off).
    """
    if not 0 <= crop < 1:
        raise UserError(f"eval.tta_crop={crop}: use a fraction of the side in [0, 1), 0 for none")
    views = ["its mirror image"] if flip else []
    if crop:
        views.append(f"a central crop of {crop:.0%} of the side")
    return " and ".join(views)


def tta(model: keras.Model, *, flip=True, crop=0.0) -> keras.Model:
    """`model` with test-time augmentation: the logits of the mean probability over views.

    The views are the image, its mirror image (`flip`) and a central crop of
    `crop` of the side resized back (`crop`). Each label's probabilities are
    averaged and returned as logits, so `sigmoid` of the output is that mean and
    every caller of a cxr model (logits out, any batch size) works unchanged.

    Args:
        model: a cxr model (preprocessed images `[B, S, S, 3]` in, logits out).
        flip: average with the horizontally flipped image.
        crop: fraction of the side of a central crop to average with; 0 for none.
    """
    tta_views(flip=flip, crop=crop)
    inputs = keras.Input(shape=model.input_shape[1:], name="image")
    views = [inputs]
    if flip:
        views.append(keras.ops.flip(inputs, axis=2))
    if crop:
        side = model.input_shape[1]
        margin = round(side * (1 - crop) / 2)
        center = inputs[:, margin : side - margin, margin : side - margin, :]
        views.append(keras.ops.image.resize(center, (side, side)))
    outputs = mean_probability_logits([model(view) for view in views])
    return keras.Model(inputs, outputs, name=f"{model.name}_tta")


def mean_probability_logits(logits):
    """The logit of the mean of `sigmoid(l)` over the tensors `l` in `logits`.

    Computed in log space, logit = log(mean p) - log(mean (1 - p)), so that
    probabilities near 0 or 1 keep their float32 precision.
    """
    stacked = keras.ops.stack(logits)
    log_p = keras.ops.logsumexp(keras.ops.log_sigmoid(stacked), axis=0)
    log_q = keras.ops.logsumexp(keras.ops.log_sigmoid(-stacked), axis=0)
    return log_p - log_q
