"""Train-time augmentation from core Keras preprocessing layers, on [0, 255] gray batches."""

import keras


def augmenter(*, rotation, zoom, translation, contrast, flip, seed):
    """A function that augments a batch `[B, S, S, 1]` of float gray images in [0, 255].

    Applied layer by layer, not as a `keras.Sequential`: each preprocessing layer
    switches itself to TensorFlow ops inside tf.data, whatever the Keras backend,
    but a Sequential model around them would not.

    Args:
        rotation: fraction of a full turn (0.02 = +-7 degrees).
        zoom: relative zoom range (+-).
        translation: fraction of the side (+-).
        contrast: relative contrast range (+-).
        flip: random horizontal flips too (anatomy is lateralised: off by default).
        seed: seed of every layer.
    """
    layers = [
        keras.layers.RandomRotation(rotation, fill_mode="constant", seed=seed),
        keras.layers.RandomZoom(zoom, fill_mode="constant", seed=seed),
        keras.layers.RandomTranslation(translation, translation, fill_mode="constant", seed=seed),
        keras.layers.RandomContrast(contrast, seed=seed),
    ]
    if flip:
        layers.insert(0, keras.layers.RandomFlip("horizontal", seed=seed))

    def augment(images):
        for layer in layers:
            images = layer(images)
        return images

    return augment
