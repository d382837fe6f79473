"""Pooled backbone features, computed once per split and cached on disk.

A frozen backbone maps each image to the same features every epoch, so the head
can train for many epochs on features computed once. The cache key covers
everything the features depend on: the dataset (name, config, version, split,
number of examples), a hash of the backbone's actual weights and the dtype
policy, so new weights, a rebuilt dataset or another precision never reuse
stale features.
"""

import hashlib
import json
import os
import pathlib

import keras
import numpy as np

from cxr.data import datasets
from cxr.runtime import distribution, progress

# Where features are cached unless a run says otherwise; any size of dataset fits
# (112,120 images x 1024 float32 = 460 MB).
DEFAULT_CACHE_DIR = (
    pathlib.Path(os.environ.get("CXR_CACHE", "~/.cache/cxr")).expanduser() / "features"
)


def weights_digest(model: keras.Model) -> str:
    """A short hash of all of `model`'s weights."""
    digest = hashlib.sha1()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()[:16]


def split_features(
    extractor, dataset, num_batches, cache_file, *, batch_size=None, num_examples=None
):
    """Features and labels of one split: from `cache_file`, or computed and saved there.

    Args:
        extractor: images -> pooled features (`cxr.model.classifier.feature_extractor`).
        dataset: one ordered pass of `(images, labels)` batches.
        num_batches: its length, for the progress bar.
        cache_file: the `.npz` file; None computes without caching.
        batch_size: images per model call (`cxr.runtime.distribution.predict`: padded, spread over
            the devices); None: the size of the first batch.
        num_examples: the dataset's length, if known: the features then fill one array
            in place (peak memory one copy of the features, not two).

    Returns:
        (features `[N, F]` float32, labels `[N, L]` float32).
    """
    if cache_file is not None and pathlib.Path(cache_file).exists():
        with np.load(cache_file) as cached:
            return cached["features"], cached["labels"]
    bar = progress.bar(num_batches, unit_name="batch")
    features, labels, filled = [], [], 0
    for images, batch_labels in dataset:
        batch_size = batch_size or len(images)
        batch = distribution.predict(extractor, images, batch_size)
        if num_examples is not None:  # one array filled in place: no second copy at the end
            if not filled:
                features = np.empty((num_examples, *batch.shape[1:]), np.float32)
                labels = np.empty((num_examples, *np.shape(batch_labels)[1:]), np.float32)
            features[filled : filled + len(batch)] = batch
            labels[filled : filled + len(batch)] = batch_labels
        else:
            features.append(batch)
            labels.append(np.asarray(batch_labels))
        filled += len(batch)
        bar.add(1)
    if num_examples is None:
        features, labels = np.concatenate(features), np.concatenate(labels)
    elif filled != num_examples:
        raise ValueError(f"the dataset held {filled} examples, not num_examples={num_examples}")
    if cache_file is not None:
        cache_file = pathlib.Path(cache_file)
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_name(f".{cache_file.stem}.tmp.npz")
        np.savez(tmp, features=features, labels=labels)
        os.replace(tmp, cache_file)
    return features, labels


def cache_file(cache_dir, builder, split, extractor, backbone) -> pathlib.Path:
    """Where the features of `split` of `builder`'s dataset through `extractor` go.

    The key holds the backbone's name (two backbones never read each other's cache,
    whatever their weights), the dtype policy (bf16 features differ from float32 ones)
    and any label policy the builder was prepared with (the cache keeps labels too).
    """
    info = builder.info
    policy = extractor.dtype_policy.name
    key = f"{info.full_name.replace('/', '_')}-{info.splits[split].num_examples}"
    key += f"-{backbone}-{weights_digest(extractor)}-{policy}"
    labels = datasets.label_policy(builder)  # the labels cached beside the features
    if labels:
        key += (
            "-labels_" + hashlib.sha1(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:8]
        )
    return pathlib.Path(cache_dir) / key / f"{split}.npz"


class ShuffledArrays(keras.utils.PyDataset):
    """Batches of in-memory arrays, epoch k shuffled with seed (seed, k).

    Args:
        x, y: arrays with the same first dimension.
        batch_size: rows per batch; the last batch may be smaller.
        seed: shuffle seed.
        first_epoch: the epoch to start at (a resumed run's next epoch).
        shard: (count, index): use only rows index, index + count, ... of the first
            len(x) - len(x) % count, one process's share (`cxr.runtime.distribution.Feed`).
        multiple: keep the last batch only if this divides its size (devices split
            every batch evenly).
    """

    def __init__(self, x, y, batch_size, seed=0, first_epoch=0, *, shard=(1, 0), multiple=1):
        super().__init__()
        self.x, self.y, self.batch_size, self.seed = x, y, batch_size, seed
        self.multiple = multiple
        count, index = shard
        self.rows = np.arange(len(x) - len(x) % count)[index::count]
        self.epoch = first_epoch
        self._order = self._permutation()

    def _permutation(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        return self.rows[rng.permutation(len(self.rows))]

    def __len__(self):
        full, rest = divmod(len(self.rows), self.batch_size)
        return full + (1 if rest and rest % self.multiple == 0 else 0)

    def __getitem__(self, index):
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        return self.x[rows], self.y[rows]

    def on_epoch_end(self):
        self.epoch += 1
        self._order = self._permutation()
