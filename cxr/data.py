"""From `cxr14_subset` records to model-ready batches.

    builder = data.prepare("cxr14_subset/synthetic")      # builds once, then reuses
    names = data.label_names(builder.info)                  # never typed twice
    train = data.batches(builder, "train", batch_size=32, training=True)
    test = data.batches(builder, "test", batch_size=64)     # deterministic order

Batches are `(images, labels)`: images float32 `[B, S, S, 3]`, normalised with
ImageNet's mean and std (what DenseNet121's ImageNet weights expect), labels
float32 multi-hot `[B, 14]` in the dataset's label order.
"""

import functools
from collections.abc import Callable

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

import cxr_tfds  # noqa: F401  (registers cxr14_subset)

# ImageNet channel statistics on [0, 1] pixels, as Keras's DenseNet preprocessing uses them.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
AUTOTUNE = tf.data.AUTOTUNE


def prepare(
    name: str = "cxr14_subset/synthetic",
    data_dir: str | None = None,
    manual_dir: str | None = None,
) -> tfds.core.DatasetBuilder:
    """Returns the builder of `name`, building the dataset first if needed.

    Args:
        name: `cxr14_subset/<config>`.
        data_dir: TFDS data dir; None for TFDS's default (`~/tensorflow_datasets`).
        manual_dir: folder with the NIH files; None for TFDS's manual dir, then
            `$CXR14_DIR`. Not needed for `synthetic`.
    """
    builder = tfds.builder(name, data_dir=data_dir)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=manual_dir)
    )
    return builder


def label_names(info: tfds.core.DatasetInfo) -> tuple[str, ...]:
    """The label order of the `labels` vectors, read from the dataset itself."""
    return tuple(info.features["bboxes"]["label"].names)


def preprocess(images: tf.Tensor) -> tf.Tensor:
    """Maps gray pixels in [0, 255] (`[..., S, S, 1]`, any dtype) to the backbone's input.

    Gray is repeated into 3 channels, then normalised with ImageNet's mean and std.
    """
    x = tf.cast(images, tf.float32) / 255.0
    x = tf.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x
    return (x - IMAGENET_MEAN) / IMAGENET_STD


def num_batches(builder: tfds.core.DatasetBuilder, split: str, batch_size: int) -> int:
    """Batches in one pass over `split` (the last one may be smaller)."""
    return -(-builder.info.splits[split].num_examples // batch_size)


def batches(
    builder: tfds.core.DatasetBuilder,
    split: str,
    batch_size: int = 32,
    training: bool = False,
    augment: Callable[[tf.Tensor], tf.Tensor] | None = None,
    cache: bool = False,
    shuffle_buffer: int = 2048,
    seed: int = 0,
    epochs: range = range(1),
) -> tf.data.Dataset:
    """A batched `(images, labels)` dataset of one split.

    For evaluation (`training=False`) it is one pass in the dataset's order, the
    same every time. For training it streams the epochs in `epochs` one after
    the other; pass `steps_per_epoch=num_batches(...)` to `fit`. Epoch k is
    shuffled with a seed made of (`seed`, k), so a run resumed at epoch k
    (`epochs=range(k, n)`) sees exactly the batches an uninterrupted run would.
    TFDS already stores examples in a shuffled order, so a buffer shuffle on
    top suffices.

    Args:
        builder: from `prepare`.
        split: `train`, `validation`, `test` or any TFDS split expression.
        batch_size: images per batch; the last, smaller batch of an epoch is kept.
        training: shuffle and augment, over `epochs`; otherwise one fixed pass.
        augment: called on float32 `[B, S, S, 1]` batches in [0, 255] before
            preprocessing, only when `training` (e.g. Keras preprocessing layers).
        cache: keep the decoded uint8 images in memory after the first epoch;
            worth it for splits that fit in RAM (112,120 images at 224 px: 5.6 GB).
        shuffle_buffer: examples in the shuffle buffer (`training` only).
        seed: shuffle seed.
        epochs: the epochs to stream when training.
    """
    examples = builder.as_dataset(split=split, shuffle_files=False)
    examples = examples.map(lambda ex: (ex["image"], tf.cast(ex["labels"], tf.float32)), AUTOTUNE)
    if cache:
        examples = examples.cache()

    def one_epoch(epoch):
        ds = examples
        if training:  # a Python seed per epoch: TF refuses tensor seeds under a global seed of 0
            ds = ds.shuffle(
                shuffle_buffer, seed=seed * 1_000_003 + epoch, reshuffle_each_iteration=False
            )
        return ds.batch(batch_size)

    ds = one_epoch(0)
    if training:
        ds = functools.reduce(lambda a, b: a.concatenate(b), map(one_epoch, epochs))
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), y), AUTOTUNE)
    if training and augment is not None:
        ds = ds.map(lambda x, y: (augment(x), y), AUTOTUNE)
    ds = ds.map(lambda x, y: (preprocess(x), y), AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = True  # parallel maps keep order: same seed, same batches
    return ds.with_options(options).prefetch(AUTOTUNE)


def split_metadata(builder: tfds.core.DatasetBuilder, split: str) -> dict:
    """Per-image facts of a split, in the order `batches(..., training=False)` yields images.

    Returns:
        A dict of numpy arrays: `image_id` (str), `patient_id` (int), `labels`
        (`[N, 14]` float32), `png` (the encoded image, decoded on demand with
        `decode_images`), and two lists of arrays: `boxes` (`[K, 4]` normalised
        ymin, xmin, ymax, xmax) and `box_labels` (`[K]` label indices).
    """
    ds = builder.as_dataset(
        split=split, shuffle_files=False, decoders={"image": tfds.decode.SkipDecoding()}
    )
    rows = list(tfds.as_numpy(ds))
    return {
        "image_id": np.array([r["image_id"].decode() for r in rows]),
        "patient_id": np.array([r["patient_id"] for r in rows], dtype=np.int64),
        "labels": np.array([r["labels"] for r in rows], dtype=np.float32).reshape(len(rows), -1),
        "png": np.array([r["image"] for r in rows], dtype=object),
        "boxes": [r["bboxes"]["bbox"] for r in rows],
        "box_labels": [r["bboxes"]["label"] for r in rows],
    }


def decode_images(pngs) -> np.ndarray:
    """Decodes stored PNGs into uint8 gray images `[N, S, S]`."""
    return np.stack([tf.io.decode_png(png, channels=1).numpy()[..., 0] for png in pngs])
