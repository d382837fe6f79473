"""From the records of any registered cxr dataset to model-ready batches.

    builder = data.prepare("cxr14_subset/synthetic")      # builds once, then reuses
    builder = data.prepare("cxr_chexpert/64", policy={"uncertain": "u_ones"})
    names = data.label_names(builder.info)                  # never typed twice
    train = data.batches(builder, "train", batch_size=32, training=True)
    test = data.batches(builder, "test", batch_size=64)     # deterministic order

Batches are `(images, labels)`: images float32 `[B, S, S, 3]`, the gray pixels in
[0, 255] repeated into 3 channels (each model normalises its own input for its
backbone: `cxr.model.preprocessing`), labels float32 `[B, L]` in the dataset's label
order: 1 positive, 0 negative, `label_space.UNKNOWN` (-1) unknown. What a dataset's
features mean (labels or raw codes, patients, attributes, boxes) is its
`cxr_tfds.registry` entry's to say (`cxr.data.label_space`); the label policy a builder
was prepared with (`with_policy`) travels with it.
"""

import functools
from collections.abc import Callable

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from cxr.data import label_space
from cxr.data.open_dataset import (  # noqa: F401  (the names callers know from here)
    build,
    check_split,
    dataset_name,
    find,
    image_size,
    label_names,
    label_policy,
    prepare,
    with_policy,
)

AUTOTUNE = tf.data.AUTOTUNE


def model_input(images: tf.Tensor) -> tf.Tensor:
    """Maps gray pixels in [0, 255] (`[..., S, S, 1]`, any dtype) to a model's input.

    float32, gray repeated into 3 channels, still in [0, 255]: every cxr model carries
    its backbone's normalisation as its first layer (`cxr.model.preprocessing`).
    """
    x = tf.cast(images, tf.float32)
    return tf.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x


def gray_model_input(grays) -> np.ndarray:
    """`model_input` of uint8 gray images `(N, S, S)` held in memory, as a numpy array.

    What Grad-CAM and `cxr predict` feed the model: the same pixels `batches` gives it.
    """
    return np.repeat(np.asarray(grays, np.float32)[..., None], 3, axis=-1)


def num_batches(
    builder: tfds.core.DatasetBuilder,
    split: str,
    batch_size: int,
    *,
    shard: tuple[int, int] = (1, 0),
    multiple: int = 1,
) -> int:
    """Batches in one pass over `split`, or over one shard of it, as `batches` makes them.

    The last batch may be smaller; it is counted only if `multiple` divides its size.
    """
    examples = builder.info.splits[split].num_examples // shard[0]  # equal shards
    full, rest = divmod(examples, batch_size)
    return full + (1 if rest and rest % multiple == 0 else 0)


def batches(
    builder: tfds.core.DatasetBuilder,
    split: str,
    *,
    batch_size: int = 32,
    training: bool = False,
    augment: Callable[[tf.Tensor], tf.Tensor] | None = None,
    cache: bool = False,
    shuffle_buffer: int = 2048,
    seed: int = 0,
    epochs: range = range(1),
    shard: tuple[int, int] = (1, 0),
    multiple: int = 1,
    permute_labels_seed: int | None = None,
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
        shard: (count, index): read only part `index` of `count` equal parts of the
            split (the few examples left over are dropped), e.g. one process's share
            of the training records (`cxr.runtime.distribution.Feed`).
        multiple: keep a batch only if this divides its size, so that devices can
            split it evenly; only an epoch's last batch can be dropped.
        permute_labels_seed: None for the true labels; else each image carries the labels
            `permuted_labels` gives it (Adebayo et al.'s data randomisation test).
    """
    examples = _image_label_pairs(
        builder, split, shard=shard, cache=cache, permute_labels_seed=permute_labels_seed
    )
    if training:  # the epochs one after the other, each in its own seeded order
        per_epoch = [
            _batched(_shuffled(examples, epoch, shuffle_buffer, seed), batch_size, multiple)
            for epoch in epochs
        ]
        ds = functools.reduce(lambda a, b: a.concatenate(b), per_epoch)
    else:
        ds = _batched(examples, batch_size, multiple)
    return _model_inputs(ds, augment if training else None)


def _image_label_pairs(builder, split, *, shard, cache, permute_labels_seed) -> tf.data.Dataset:
    """(uint8 image, float32 labels) of a split, or of one shard of it, kept in RAM if `cache`.

    Permuted labels are looked up by image id, so a shard's images carry the labels the
    whole split's permutation gave them.
    """
    labels_of = label_space.targets_fn(builder, label_policy(builder))
    if permute_labels_seed is not None:  # before sharding: the whole split is permuted
        labels_of = _permuted_label_lookup(*permuted_labels(builder, split, permute_labels_seed))
    if shard[0] > 1:
        split = tfds.even_splits(split, n=shard[0], drop_remainder=True)[shard[1]]
    examples = records(builder, split)
    examples = examples.map(lambda ex: (ex["image"], labels_of(ex)), AUTOTUNE)
    return examples.cache() if cache else examples


def _permuted_label_lookup(ids, labels):
    """example -> the row of `labels` at its image id's position in `ids`."""
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(ids, np.arange(len(ids), dtype=np.int64)), -1
    )
    labels = tf.constant(labels)
    return lambda ex: tf.gather(labels, table.lookup(ex["image_id"]))


def permuted_labels(builder: tfds.core.DatasetBuilder, split: str, seed: int):
    """The split's label rows permuted across its images, images untouched.

    For Adebayo et al.'s data randomisation test: image i (in the split's stored order)
    takes the labels of image `perm[i]`, `perm` one fixed permutation drawn from `seed`,
    so every label's prevalence is the split's and only the image-label link is broken.

    Returns:
        (image ids `[N]` bytes, labels `[N, 14]` float32), both in the split's order.

    Raises:
        ValueError: when two images share an id (the permuted labels are found by id).
    """
    ds = records(builder, split, decode_images=False)
    targets = label_space.targets_fn(builder, label_policy(builder))
    ds = ds.map(lambda ex: (ex["image_id"], targets(ex)), AUTOTUNE).batch(4096)
    ids, labels = [], []
    for batch_ids, batch_labels in ds.as_numpy_iterator():
        ids.append(batch_ids)
        labels.append(np.asarray(batch_labels, np.float32))
    ids, labels = np.concatenate(ids), np.concatenate(labels)
    if len(set(ids)) != len(ids):
        raise ValueError(f"{dataset_name(builder)} {split}: image ids repeat; cannot permute")
    return ids, labels[np.random.default_rng(seed).permutation(len(labels))]


def _model_inputs(ds, augment) -> tf.data.Dataset:
    """Batches of uint8 images made model inputs: float, augmented if `augment`, 3 channels."""
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), y), AUTOTUNE)
    if augment is not None:
        ds = ds.map(lambda x, y: (augment(x), y), AUTOTUNE)
    ds = ds.map(lambda x, y: (model_input(x), y), AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = True  # parallel maps keep order: same seed, same batches
    return ds.with_options(options).prefetch(AUTOTUNE)


def _shuffled(examples, epoch, buffer, seed):
    """Epoch `epoch`'s order: a buffer shuffle seeded by (`seed`, `epoch`).

    A Python seed per epoch: TF refuses tensor seeds under a global seed of 0.
    """
    return examples.shuffle(buffer, seed=seed * 1_000_003 + epoch, reshuffle_each_iteration=False)


def _batched(examples, batch_size, multiple):
    """`examples` in batches, keeping only those whose size `multiple` divides."""
    ds = examples.batch(batch_size)
    return ds.filter(lambda x, y: tf.shape(y)[0] % multiple == 0) if multiple > 1 else ds


def records(builder, split, decode_images=True) -> tf.data.Dataset:
    """The split's examples in their stored order, images decoded or left as PNG bytes.

    TFDS would quietly keep a whole dataset under 250 MiB in RAM after the first pass
    (autocache): memory would then grow with the split. `batches(cache=True)` is the
    explicit way to keep images in RAM.
    """
    return builder.as_dataset(
        split=split,
        shuffle_files=False,
        decoders=None if decode_images else {"image": tfds.decode.SkipDecoding()},
        read_config=tfds.ReadConfig(try_autocache=False),
    )


def split_labels(builder: tfds.core.DatasetBuilder, split: str) -> np.ndarray:
    """The labels `[N, L]` float32 of a split (`UNKNOWN` where unknown), in order, without
    decoding images."""
    ds = records(builder, split, decode_images=False)
    targets = label_space.targets_fn(builder, label_policy(builder))
    labels = ds.map(targets, AUTOTUNE).batch(4096)
    rows = [np.asarray(batch, np.float32) for batch in labels.as_numpy_iterator()]
    width = len(label_names(builder.info))
    return np.concatenate(rows) if rows else np.zeros((0, width), np.float32)


def decode_selected(builder: tfds.core.DatasetBuilder, split: str, indices):
    """Decodes only the images at `indices` (positions in the split's order).

    Yields:
        (index, uint8 gray image `[S, S]`) in the split's order, one at a time; the
        other images are read but never decoded.
    """
    wanted = np.zeros(builder.info.splits[split].num_examples, dtype=bool)
    wanted[np.asarray(indices, dtype=np.int64)] = True
    ds = records(builder, split, decode_images=False)
    ds = ds.enumerate().filter(lambda i, ex: tf.gather(wanted, i))
    ds = ds.map(lambda i, ex: (i, tf.io.decode_png(ex["image"], channels=1)[..., 0]), AUTOTUNE)
    for i, image in ds.as_numpy_iterator():
        yield int(i), image
