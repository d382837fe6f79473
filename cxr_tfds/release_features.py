"""What every builder of another hospital's release shares: the label-space contract's
features and the configs by size (TensorFlow Datasets; `cxr_tfds.registry` is the pure side).

    features=tfds.features.FeaturesDict({**release_features.common(size, n), "mask": ...})
    BUILDER_CONFIGS = release_features.size_configs(MyConfig, (224, 512, 64))
"""

import numpy as np
import tensorflow_datasets as tfds

TEST_SIZE = 64  # the small config every builder has for tests


def common(size: int, num_labels: int) -> dict:
    """The features of the contract: the gray image (PNG, size x size), its id, its patient
    (the image id where a release has no patients, as each builder states) and each
    finding's raw code (`raw_labels`, int8 in [-2, 3]; its `labels.targets` reads them)."""
    return {
        "image": tfds.features.Image(shape=(size, size, 1), encoding_format="png"),
        "image_id": tfds.features.Text(),
        "patient_id": tfds.features.Text(),
        "raw_labels": tfds.features.Tensor(shape=(num_labels,), dtype=np.int8),
    }


def size_configs(config_class, sizes) -> list:
    """One config per size, named by it: every image found, resized to size x size."""
    return [
        config_class(
            name=str(size),
            description=f"All images found, {size}x{size}{' (tests)' if size == TEST_SIZE else ''}.",
            image_size=size,
        )
        for size in sizes
    ]
