"""The training stage on a tiny model and tiny arrays: seconds, each against a hand reference.

Resume (state written, read back, the resumed epochs and learning rates), reduce-on-plateau
and early stopping, the loss, and the head trained on cached features against the head
trained through the frozen backbone.
"""

import dataclasses
import json
import math
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from cxr.errors import UserError
from cxr.model.losses import WeightedBinaryCrossentropy, positive_weights
from cxr.tracking.metric_keys import MONITOR, VAL_LOSS
from cxr.tracking.rundir import RunDir
from cxr.train import callbacks, feature_cache, loop
from cxr.train.phases import VAL_AUROC_MAX, VAL_LOSS_MIN, Phase

LABELS = ("A", "B", "C")


def bce_by_hand(labels, logits, pos_weight=(1.0, 1.0, 1.0)):
    """Mean over rows of the mean over labels of -[w y log p + (1 - y) log(1 - p)], float64."""
    total = 0.0
    for row_y, row_z in zip(labels, logits, strict=True):
        for y, z, w in zip(row_y, row_z, pos_weight, strict=True):
            p = 1 / (1 + math.exp(-z))
            total -= w * y * math.log(p) + (1 - y) * math.log(1 - p)
    return total / (len(labels) * len(labels[0]))


# --- the loss ----------------------------------------------------------------------------


def test_losses_and_the_logged_validation_loss_match_a_hand_computation():
    labels = [[1, 0, 1], [0, 0, 1]]
    logits = [[0.3, -1.2, 2.0], [1.5, 0.1, -0.7]]
    y, z = np.float32(labels), np.float32(logits)
    weights = (2.0, 0.5, 1.0)
    # float32 arithmetic against float64 by hand: a few ulps (1.2e-7 each) over 6 terms.
    weighted = float(WeightedBinaryCrossentropy(weights)(y, z))
    assert weighted == pytest.approx(bce_by_hand(labels, logits, weights), rel=1e-6)
    plain = float(loop.phase_loss(None)(y, z))
    assert plain == pytest.approx(bce_by_hand(labels, logits), rel=1e-6)

    train_labels = np.float32([[1, 0, 0], [1, 1, 0], [0, 0, 0], [1, 0, 0]])
    # Label A: 3 positives, 1 negative; B: 1 and 3; C: no positive, so weight 1.
    np.testing.assert_array_equal(positive_weights(train_labels), np.float32([1 / 3, 3.0, 1.0]))

    validate = callbacks.ValidationAuroc(
        None, y, LABELS, predict=lambda _: z, loss=loop.phase_loss(None)
    )
    logs = {}
    validate.on_epoch_end(0, logs)
    assert logs[VAL_LOSS] == pytest.approx(bce_by_hand(labels, logits), rel=1e-6)


# --- reduce-on-plateau and early stopping ------------------------------------------------


def fake_model(lr):
    return types.SimpleNamespace(
        optimizer=types.SimpleNamespace(learning_rate=keras.Variable(lr)), stop_training=False
    )


def run_plateau(plateau, model, values, key, first_epoch=0):
    """Feeds `values` as the monitored metric; returns (logged lrs, epoch stopped or None)."""
    plateau.set_model(model)
    lrs = []
    for epoch, value in enumerate(values, start=first_epoch):
        logs = {key: value}
        plateau.on_epoch_end(epoch, logs)
        lrs.append(logs["learning_rate"])
        if model.stop_training:
            return lrs, epoch
    return lrs, None


@pytest.mark.parametrize(
    "monitor, patience, values, expected_lrs, stopped",
    [
        # AUROC, higher better: lr / 10 after 2 epochs without a new best, stop after 3.
        # e2 ties 0.6 (no better), e3 -> lr 0.1; e4 new best; e5, e6 (tie) -> lr 0.01;
        # e7 is the third epoch since e4: stop.
        (
            VAL_AUROC_MAX,
            (2, 3),
            [0.5, 0.6, 0.6, 0.55, 0.7, 0.65, 0.7, 0.69, 0.9],
            [1, 1, 1, 1, 0.1, 0.1, 0.1, 0.01],
            7,
        ),
        # Loss, lower better, CheXNet's setting: lr / 10 after every epoch that is not a
        # new lowest; stop after 2 such epochs in a row. e2 -> 0.1; e3 new best;
        # e4 ties -> 0.01; e5 -> 0.001 and stop.
        (
            VAL_LOSS_MIN,
            (1, 2),
            [1.0, 0.9, 0.95, 0.8, 0.8, 0.85, 0.1],
            [1, 1, 1, 0.1, 0.1, 0.01],
            5,
        ),
    ],
)
def test_plateau_divides_lr_by_10_and_stops_as_counted_by_hand(
    monitor, patience, values, expected_lrs, stopped
):
    lr_patience, stop_patience = patience
    model = fake_model(1.0)
    plateau = callbacks.Plateau(
        lr_patience=lr_patience, stop_patience=stop_patience, monitor=monitor
    )
    lrs, at = run_plateau(plateau, model, values, monitor.key)
    # The lr variable is float32: 0.1 and 0.01 are stored to 7 digits.
    np.testing.assert_allclose(lrs, expected_lrs, rtol=1e-6)
    assert at == stopped

    # Interrupted after 3 epochs and resumed from its state, through JSON as on disk.
    model = fake_model(1.0)
    first = callbacks.Plateau(lr_patience=lr_patience, stop_patience=stop_patience, monitor=monitor)
    head, _ = run_plateau(first, model, values[:3], monitor.key)
    state = json.loads(json.dumps(first.state()))
    resumed = callbacks.Plateau(
        lr_patience=lr_patience, stop_patience=stop_patience, monitor=monitor, state=state
    )
    tail, at = run_plateau(resumed, model, values[3:], monitor.key, first_epoch=3)
    np.testing.assert_allclose(head + tail, expected_lrs, rtol=1e-6)
    assert at == stopped


def test_nan_never_improves():
    plateau = callbacks.Plateau(lr_patience=1, stop_patience=1, monitor=VAL_LOSS_MIN)
    _, at = run_plateau(plateau, fake_model(1.0), [math.nan], VAL_LOSS)
    assert at == 0


# --- resume -------------------------------------------------------------------------------


class Killed(Exception):
    pass


class KillAfter(keras.callbacks.Callback):
    """Raises at the end of epoch `epoch` (0-based) before its checkpoint: a kill -9 there."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Killed


def arrays(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(40, 5)).astype("float32")
    y = (rng.random((40, 3)) < 0.4).astype("float32")  # labels unrelated to x: overfits
    return x[:24], y[:24], x[24:], y[24:]


def dense_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((5,))
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(inputs))


def fit(run, phase, x, y, val_x, val_y, first_epoch=0, resume=None, epoch_logs=()):
    return loop.fit_phase(
        dense_model(),
        feature_cache.ShuffledArrays(x, y, 8, seed=1, first_epoch=first_epoch),
        val_x,
        val_y,
        run=run,
        phase=phase,
        label_names=LABELS,
        resume=resume,
        epoch_logs=epoch_logs,
        val_batch_size=16,
    )


def test_a_killed_phase_resumes_to_the_same_epochs_lr_and_best_model(tmp_path):
    x, y, val_x, val_y = arrays(0)
    phase = Phase(
        "p", epochs=6, learning_rate=0.3, lr_patience=1, stop_patience=10, monitor=VAL_LOSS_MIN
    )
    straight = RunDir(tmp_path / "straight").create({})
    whole = fit(straight, phase, x, y, val_x, val_y).history
    assert len(set(whole["learning_rate"])) > 1  # the lr fell at least once before epoch 6

    killed = RunDir(tmp_path / "killed").create({})
    with pytest.raises(Killed):
        fit(killed, phase, x, y, val_x, val_y, epoch_logs=[KillAfter(3)])
    state = killed.load_state()
    assert (state["phase"], state["epoch"], state["done"]) == ("p", 3, False)
    assert state["monitor"] == VAL_LOSS
    assert state["best"] == pytest.approx(min(whole[VAL_LOSS][:3]), rel=1e-6)  # as below

    again = fit(killed, phase, x, y, val_x, val_y, first_epoch=3, resume=state).history
    # Same float32 ops on the same batches; weights and optimizer state come back from the
    # .keras file bit for bit, so only the order of a reduction could differ: 1e-6.
    for key in ("loss", VAL_LOSS, "learning_rate", MONITOR):
        np.testing.assert_allclose(again[key], whole[key][3:], rtol=1e-6)
    assert killed.load_state()["done"] and killed.load_state()["epoch"] == 6

    # model.keras is the lowest validation loss, recomputed here from its own predictions.
    best = keras.saving.load_model(killed.model_file)
    by_hand = bce_by_hand(val_y.tolist(), best.predict(val_x, verbose=0).tolist())
    # float32 logits through a float64 hand BCE against the float32 logged value.
    assert by_hand == pytest.approx(min(whole[VAL_LOSS]), rel=1e-5)


def test_resuming_under_another_monitor_is_refused(tmp_path):
    run = RunDir(tmp_path / "r").create({})
    run.save_state({"phase": "p", "epoch": 2, "done": False, "best": 0.7, "plateau": {}})
    phase = Phase("p", epochs=4, learning_rate=0.1, lr_patience=1, stop_patience=3)
    loop.check_resume(run, run.load_state(), [phase])  # an old state: AUROC, as this phase
    with pytest.raises(UserError, match="--config.train.monitor=val/macro_auroc"):
        loop.check_resume(run, run.load_state(), [Phase("p", 4, 0.1, 1, 3, monitor=VAL_LOSS_MIN)])


# --- the feature cache ---------------------------------------------------------------------


class FakeBuilder:
    """The few parts of a TFDS builder the loop reads, over arrays in memory."""

    name = "cxr14_subset"  # its registry entry: multi-hot "labels", NIH's names

    def __init__(self, seed=0, size=8):
        rng = np.random.default_rng(seed)
        self.data = {
            split: {
                "image": rng.integers(0, 256, (n, size, size, 1), dtype=np.uint8),
                "labels": rng.random((n, len(LABELS))) < 0.4,
            }
            for split, n in (("train", 24), ("validation", 12))
        }
        splits = {
            k: types.SimpleNamespace(num_examples=len(v["labels"])) for k, v in self.data.items()
        }
        label = types.SimpleNamespace(names=list(LABELS))
        self.info = types.SimpleNamespace(
            name=self.name,
            full_name="fake/1.0.0",
            splits=splits,
            features={"bboxes": {"label": label}},
        )

    def as_dataset(self, split, **_):
        return tf.data.Dataset.from_tensor_slices(self.data[split])


def tiny_densenet(size=8):
    """A model with the layer names `cxr.model.layer_names` gives, and a tiny backbone."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(6, 3, activation="relu", name="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = keras.layers.Dropout(0.0, name="head_dropout")(x)
    return keras.Model(inputs, keras.layers.Dense(len(LABELS), name="logits")(x))


def test_the_head_trains_the_same_on_cached_features_as_through_the_frozen_backbone(tmp_path):
    builder = FakeBuilder()
    # One batch of all 24 training images: the shuffle order of the two paths cannot matter.
    data = loop.Data(builder, LABELS, "train", "validation", batch_size=24)
    head = Phase(
        "head", epochs=3, learning_rate=0.05, lr_patience=5, stop_patience=5, batch_size=24
    )
    results = {}
    for name, cache_dir in (("images", None), ("cache", tmp_path / "features")):
        model = tiny_densenet()
        backbone = model.get_layer("relu").get_weights()
        run = RunDir(tmp_path / name).create({})
        phase = dataclasses.replace(head, feature_cache_dir=cache_dir)
        loop.train(model=model, run=run, data=data, phases=[phase])
        for before, after in zip(backbone, model.get_layer("relu").get_weights(), strict=True):
            np.testing.assert_array_equal(before, after)  # frozen
        results[name] = (model.get_layer("logits").get_weights(), run.load_state()["best"])
    assert list((tmp_path / "features").glob("*/train.npz"))
    (w_images, best_images), (w_cache, best_cache) = results["images"], results["cache"]
    # float32: the features reach the head through `predict` on one path and inside the
    # training step on the other (sums may be reordered, ~1e-7 relative); three Adam steps
    # of size <= lr = 0.05 keep that far below 1e-5.
    for a, b in zip(w_images, w_cache, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert best_images == pytest.approx(best_cache, abs=1e-5)
