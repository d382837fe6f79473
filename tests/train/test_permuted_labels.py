"""Training on permuted labels (Adebayo et al.'s data randomisation test), on the dummy dataset.

The permutation moves label rows between training images and nothing else: images,
validation and test labels stay, the same seed gives the same permutation, the training
stream (shuffled, sharded) pairs each image with its permuted row, and the feature cache
keeps true labels whatever run filled it.
"""

import hashlib
import types

import keras
import numpy as np
import pytest
import tensorflow_datasets as tfds

from cxr.data import datasets
from cxr.model import classifier
from cxr.runtime import distribution
from cxr.tracking.rundir import RunDir
from cxr.train import loop
from cxr.train.phases import Phase
from tests.helpers.paths import DUMMY_DIR

SEED = 5


@pytest.fixture(scope="module")
def builder(tmp_path_factory):
    built = tfds.builder("cxr14_subset/224", data_dir=str(tmp_path_factory.mktemp("tfds")))
    built.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=DUMMY_DIR))
    return built


def stored(builder, split):
    """(image ids, uint8 images, true labels) of a split in its stored order, read directly."""
    rows = list(tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)))
    ids = np.array([r["image_id"] for r in rows])
    return ids, np.stack([r["image"] for r in rows]), np.stack([r["labels"] for r in rows])


def key(image):
    """An image's pixels as a dict key (the dummy data repeats some images)."""
    return hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()


def pairs(ds):
    """[(image key, labels)] of every example of a batched (images, labels) dataset."""
    return [(key(x), y) for xs, ys in ds.as_numpy_iterator() for x, y in zip(xs, ys, strict=True)]


def rows_by_image(seen):
    """[(image key, labels)] -> {image key: sorted label rows (bytes) of those pixels}."""
    out = {}
    for k, y in seen:
        out.setdefault(k, []).append(np.asarray(y, np.float32).tobytes())
    return {k: sorted(v) for k, v in out.items()}


def test_label_rows_are_permuted_across_images_by_the_seed(builder):
    ids, _, true = stored(builder, "train")
    assert len(true) >= 4 and len({r.tobytes() for r in true}) >= 2  # something to permute
    got_ids, permuted = datasets.permuted_labels(builder, "train", SEED)
    np.testing.assert_array_equal(got_ids, ids)  # each image keeps its place
    # A permutation of the rows: the same rows, each as many times (sorted lexicographically).
    np.testing.assert_array_equal(np.unique(permuted, axis=0), np.unique(true, axis=0))
    for row in np.unique(true, axis=0):
        assert (permuted == row).all(1).sum() == (true == row).all(1).sum()
    again = datasets.permuted_labels(builder, "train", SEED)[1]
    np.testing.assert_array_equal(again, permuted)  # deterministic by seed
    others = [datasets.permuted_labels(builder, "train", s)[1] for s in range(10)]
    assert any(not np.array_equal(o, permuted) for o in others)  # the seed matters


def test_batches_keep_the_images_and_carry_the_permuted_rows(builder):
    ids, _, true = stored(builder, "train")
    _, permuted = datasets.permuted_labels(builder, "train", SEED)
    plain = pairs(datasets.batches(builder, "train", batch_size=3))
    swapped = pairs(datasets.batches(builder, "train", batch_size=3, permute_labels_seed=SEED))
    assert [k for k, _ in swapped] == [k for k, _ in plain]  # the same images, same order
    np.testing.assert_array_equal(np.stack([y for _, y in plain]), true)
    np.testing.assert_array_equal(np.stack([y for _, y in swapped]), permuted)
    expected = rows_by_image(zip([k for k, _ in plain], permuted, strict=True))
    # Shuffled over two epochs: each epoch every image with its own row.
    stream = datasets.batches(
        builder, "train", batch_size=2, training=True, epochs=range(2), permute_labels_seed=SEED
    )
    seen = pairs(stream)
    assert rows_by_image(seen) == {k: sorted(v * 2) for k, v in expected.items()}
    # One process's shard: its images with the rows the whole split's permutation gave them.
    shard = pairs(
        datasets.batches(builder, "train", batch_size=2, shard=(2, 1), permute_labels_seed=SEED)
    )
    assert len(shard) == len(plain) // 2
    for k, y in shard:
        assert y.tobytes() in expected[k]


def tiny_model():
    """Images -> avg_pool (4) -> head_dropout -> logits (14): cxr's head layer names."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((224, 224, 3))
    x = keras.layers.Conv2D(4, 8, strides=8, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name=classifier.FEATURES_LAYER)(x)
    x = keras.layers.Dropout(0.0, name=classifier.DROPOUT_LAYER)(x)
    return keras.Model(inputs, keras.layers.Dense(14, name=classifier.LOGITS_LAYER)(x))


def fitted_data(monkeypatch, tmp_path, builder, *, seed, feature_cache_dir=None):
    """What `loop` hands `fit_phase` for one phase: (training input, val images, val labels)."""
    calls = []
    no_history = types.SimpleNamespace(history={})
    monkeypatch.setattr(loop, "fit_phase", lambda *a, **k: calls.append(a) or no_history)
    data = loop.Data(builder, (), "train", "validation", batch_size=4, permute_labels_seed=seed)
    phase = Phase(
        "p",
        epochs=1,
        learning_rate=1e-3,
        lr_patience=1,
        stop_patience=1,
        batch_size=4,
        feature_cache_dir=feature_cache_dir,
    )
    common = dict(run=RunDir(tmp_path / "run"), phase=phase, label_names=(), resume=None)
    common |= dict(pos_weight=None, epoch_logs=[], jit_compile=False)
    fit = loop._fit_on_images if feature_cache_dir is None else loop._fit_on_features
    fit(tiny_model(), data, distribution.single(), **common)
    ((_, train, val_x, val_y),) = calls
    return train, val_x, val_y


def test_only_the_training_labels_are_permuted_on_images(builder, monkeypatch, tmp_path):
    train, val_ds, val_y = fitted_data(monkeypatch, tmp_path, builder, seed=SEED)
    _, _, true_train = stored(builder, "train")
    _, _, true_val = stored(builder, "validation")
    _, permuted = datasets.permuted_labels(builder, "train", SEED)
    keys = [k for k, _ in pairs(datasets.batches(builder, "train", batch_size=3))]
    seen = rows_by_image(pairs(train))  # the shuffled training stream of the phase
    assert seen == rows_by_image(zip(keys, permuted, strict=True))
    assert seen != rows_by_image(zip(keys, true_train, strict=True))  # not the true pairing
    np.testing.assert_array_equal(val_y, true_val)
    np.testing.assert_array_equal(np.concatenate([y for _, y in val_ds]), true_val)


def test_the_feature_cache_keeps_true_labels_for_both_runs(builder, monkeypatch, tmp_path):
    cache = tmp_path / "features"
    _, permuted = datasets.permuted_labels(builder, "train", SEED)
    _, _, true_train = stored(builder, "train")
    _, _, true_val = stored(builder, "validation")
    # A permuted run fills the cache, then a true run reads it, then a permuted one again.
    for seed, expected in ((SEED, permuted), (None, true_train), (SEED, permuted)):
        train, val_x, val_y = fitted_data(
            monkeypatch, tmp_path, builder, seed=seed, feature_cache_dir=cache
        )
        np.testing.assert_array_equal(train.y, expected)
        np.testing.assert_array_equal(val_y, true_val)
        assert len(train.x) == len(expected) and len(val_x) == len(true_val)
    for split, true in (("train", true_train), ("validation", true_val)):
        (file,) = cache.glob(f"*/{split}.npz")  # one file per split: these weights, this data
        with np.load(file) as saved:  # on disk: the true labels
            np.testing.assert_array_equal(saved["labels"], true)
