"""The training stage: phases in order, each one `fit_phase`, resumable at any epoch.

    train(model=model, run=run, data=Data(builder, ...), phases=[Phase("head", ...), ...])

Each `cxr.train.phases.Phase` carries its own settings; nothing here depends on a
phase's name. A phase compiles the model (BCE on logits, Adam), fits it with the
callbacks every run needs (`cxr.train.callbacks`: validation AUROC and loss,
reduce-on-plateau, early stopping, NaN guard, logs, best model, resumable checkpoint)
and can be killed at any moment: started again with the same run directory, it
continues after its last completed epoch with the weights, the optimizer state and
the callbacks' state it had, and since every epoch's shuffle depends only on
(seed, epoch), it ends where an uninterrupted run ends.

A phase with a feature cache trains only the head, on pooled features computed once
per split (`cxr.train.feature_cache`); the others train on images. Every phase after
the first starts from the best model so far.
"""

import dataclasses
import functools
import time

import keras

from cxr.data import datasets
from cxr.errors import UserError
from cxr.model import classifier
from cxr.model.losses import WeightedBinaryCrossentropy, positive_weights
from cxr.runtime import distribution, progress
from cxr.tracking.metric_keys import MONITOR
from cxr.tracking.rundir import RunDir
from cxr.train import feature_cache
from cxr.train.callbacks import Checkpoint, EpochTimer, Plateau, ValidationAuroc
from cxr.train.phases import Phase


@dataclasses.dataclass(frozen=True)
class Data:
    """What every phase trains and validates on.

    Attributes:
        builder: the dataset (`cxr.data.datasets.prepare`).
        label_names: the label order.
        train_split, val_split: TFDS split expressions.
        batch_size: images per network call where no phase says otherwise: validation
            and the feature pass (global, over all devices).
        seed: shuffling seed.
        shuffle_buffer: examples in the shuffle buffer.
        cache_images: keep decoded training images in RAM after the first epoch.
        permute_labels_seed: None, or train on the training split's labels permuted
            across its images by this seed (`cxr.data.datasets.permuted_labels`);
            validation keeps its true labels.
    """

    builder: object
    label_names: tuple
    train_split: str
    val_split: str
    batch_size: int = 32
    seed: int = 0
    shuffle_buffer: int = 2048
    cache_images: bool = False
    permute_labels_seed: int | None = None


def train(*, model, run: RunDir, data: Data, phases, epoch_logs=(), dist=None, jit_compile=False):
    """Fits `model` phase by phase, continuing a killed run where it stopped.

    Args:
        model: from `cxr.model.classifier.build_model`; trained in place.
        run: the run directory (checkpoints, state, metrics.jsonl, model.keras).
        data: the splits and how to read them.
        phases: `Phase`s in order; finished ones (per the run's state) are skipped.
        epoch_logs: functions `(phase name) -> callback` for the epoch records
            (metrics.jsonl, W&B); they run after validation and before the checkpoint.
        dist: the `cxr.runtime.distribution.Setup` the model was built under; None for
            one device. Each process reads its share of the training records;
            validation scores every image on every process.
        jit_compile: XLA for the training steps (`cxr.runtime.speed` chooses it).

    Raises:
        UserError: when the run being resumed monitored another metric.
    """
    dist = dist or distribution.single()
    if data.permute_labels_seed is not None:
        print(
            f"Training on permuted labels (seed {data.permute_labels_seed}): the data "
            "randomisation test; validation and test keep their labels, so AUROC ~0.5"
        )
    state = run.load_state()
    check_resume(run, state, phases)
    dist.sync_batchnorm(model)
    if state:  # a kill may have logged an epoch it did not checkpoint
        run.truncate_metrics(state["phase"], state["epoch"])
    weights = None
    if any(p.pos_weight for p in phases):
        weights = positive_weights(datasets.split_labels(data.builder, data.train_split))
    for phase in phases:
        if not phase.epochs or (state and _finished(state, phase.name, phases)):
            continue
        resume = state if state and state["phase"] == phase.name else None
        if state and not resume:  # an earlier phase ended: go on from its best model
            model.load_weights(run.model_file)
        classifier.set_trainable(model, phase.trainable)
        common = dict(
            run=run,
            phase=phase,
            label_names=data.label_names,
            pos_weight=weights if phase.pos_weight else None,
            resume=resume,
            epoch_logs=[log(phase.name) for log in epoch_logs],
            jit_compile=jit_compile,
        )
        fit = _fit_on_features if phase.feature_cache_dir is not None else _fit_on_images
        fit(model, data, dist, **common)
        state = run.load_state()


def check_resume(run: RunDir, state, phases) -> None:
    """Raises a `UserError` if the run's unfinished phase monitored another metric.

    Plateau counters and the best value mean nothing under another metric. States
    written before phases had a monitor name none: they monitored `MONITOR`.
    """
    if not state or state["done"]:
        return
    was = state.get("monitor", MONITOR)
    for phase in phases:
        if phase.name == state["phase"] and phase.monitor.key != was:
            raise UserError(
                f"{run} was training phase {phase.name!r} on {was}, not {phase.monitor.key}: "
                f"resume it with --config.train.monitor={was}"
            )


def _finished(state, name, phases):
    """Whether phase `name` ended before the state's phase, or is the state's and done."""
    order = [p.name for p in phases]
    if state["phase"] == name:
        return state["done"]
    return order.index(name) < order.index(state["phase"])


def _fit_on_images(model, data: Data, dist, **common):
    """One phase on images, augmented if the phase says so, in this epoch's order."""
    phase, resume = common["phase"], common["resume"]
    images = functools.partial(
        datasets.batches,
        data.builder,
        data.train_split,
        training=True,
        augment=phase.augment,
        cache=data.cache_images,
        shuffle_buffer=data.shuffle_buffer,
        seed=data.seed,
        epochs=range(resume["epoch"] if resume else 0, phase.epochs),
        permute_labels_seed=data.permute_labels_seed,
    )
    feed = dist.feed(phase.batch_size)
    fit_phase(
        model,
        dist.fit_input(images, phase.batch_size),
        datasets.batches(data.builder, data.val_split, batch_size=data.batch_size),
        datasets.split_labels(data.builder, data.val_split),
        steps_per_epoch=datasets.num_batches(
            data.builder,
            data.train_split,
            feed.batch_size,
            shard=feed.shard,
            multiple=feed.multiple,
        ),
        val_batch_size=data.batch_size,
        **common,
    )


def _fit_on_features(model, data: Data, dist, **common):
    """One phase the fast way: features once per split (cached on disk), then the head."""
    phase, resume = common["phase"], common["resume"]
    start = time.perf_counter()
    (train_x, train_y), (val_x, val_y) = (
        _split_features(model, data, split, phase.feature_cache_dir, dist)
        for split in (data.train_split, data.val_split)
    )
    fill_seconds = time.perf_counter() - start
    if data.permute_labels_seed is not None:  # the cache keeps true labels: permuted here
        _, train_y = datasets.permuted_labels(
            data.builder, data.train_split, data.permute_labels_seed
        )
    feed = dist.array_feed(phase.batch_size)
    history = fit_phase(
        classifier.head_model(model),
        feature_cache.ShuffledArrays(
            train_x,
            train_y,
            feed.batch_size,
            data.seed,
            resume["epoch"] if resume else 0,
            shard=feed.shard,
            multiple=feed.multiple,
        ),
        val_x,
        val_y,
        best_model=model,
        val_batch_size=phase.batch_size,
        **common,
    )
    seconds = history.history.get("epoch_seconds", [])
    if len(seconds) >= 2 and not resume:
        first, second = fill_seconds + seconds[0], seconds[1]
        print(
            f"Head epoch 1 (filling the feature cache): {first:.2f} s; epoch 2 (from the "
            f"cache): {second:.3f} s; {first / second:.0f}x faster"
        )


def _split_features(model, data: Data, split, cache_dir, dist):
    """Pooled features and labels of `split`, from the cache or computed into it.

    With several processes nothing is cached: each would have to know whether every
    other host has the file before they all run the same collective pass.
    """
    extractor = classifier.feature_extractor(model)
    path = None
    if dist.processes == 1:
        path = feature_cache.cache_file(
            cache_dir, data.builder, split, extractor, classifier.backbone_name(model)
        )
        print(f"Features of {split}: {'cached' if path.exists() else 'computing'} ({path})")
    else:
        print(f"Features of {split}: computing, not cached ({dist.processes} processes)")
    return feature_cache.split_features(
        extractor,
        datasets.batches(data.builder, split, batch_size=data.batch_size),
        datasets.num_batches(data.builder, split, data.batch_size),
        path,
        batch_size=data.batch_size,
        num_examples=data.builder.info.splits[split].num_examples,
    )


def phase_loss(pos_weight=None) -> keras.losses.Loss:
    """The training loss: BCE on logits, mean over the known labels of a batch (unknown
    ones, -1, count nothing; all known it equals Keras's BinaryCrossentropy bit for bit);
    each label's positives weighted if given."""
    return WeightedBinaryCrossentropy(pos_weight)


def compile_phase(model, phase: Phase, pos_weight=None, jit_compile=False) -> None:
    """Compiles `model` for `phase`: Adam (Keras's defaults, beta_1 0.9, beta_2 0.999)."""
    model.compile(
        optimizer=keras.optimizers.Adam(phase.learning_rate),
        loss=phase_loss(pos_weight),
        jit_compile=jit_compile,
    )


def fit_phase(
    model,
    train_data,
    val_x,
    val_labels,
    *,
    run: RunDir,
    phase: Phase,
    label_names,
    steps_per_epoch=None,
    pos_weight=None,
    best_model=None,
    resume=None,
    epoch_logs=(),
    val_batch_size=32,
    jit_compile=False,
):
    """Compiles and fits `model` for one phase; resumes from `resume` if given.

    Args:
        model: the model to fit (the full model, or the head on features).
        train_data: a `keras.utils.PyDataset` or an endless `tf.data.Dataset`
            positioned at the resumed epoch (see `cxr.data.datasets.batches`).
        val_x, val_labels: validation inputs and multi-hot labels.
        run: the run directory (checkpoints, model.keras, state).
        phase: the `Phase` (name, epochs, learning rate, patiences, monitor).
        label_names: the label order.
        steps_per_epoch: batches per epoch for an endless dataset.
        pos_weight: per-label positive weights, or None for plain BCE on logits.
        best_model: full model saved as model.keras on a new best (default `model`).
        resume: the run's state when it names this phase; weights, optimizer
            state and counters are restored from the checkpoint.
        epoch_logs: callbacks that see the validation metrics and run before the
            checkpoint, so a logged epoch is never lost.
        val_batch_size: rows per validation prediction call (`distribution.predict`);
            no batch of a `val_x` dataset may be longer.
        jit_compile: XLA for the training steps (`cxr.runtime.speed` chooses it).

    Returns:
        The Keras `History` of the epochs run now.
    """
    compile_phase(model, phase, pos_weight, jit_compile)
    if resume:
        model.optimizer.build(model.trainable_variables)
        model.load_weights(run.checkpoint(phase.name))
        print(f"Resuming phase {phase.name!r} after epoch {resume['epoch']} from {run}")
    predict = functools.partial(distribution.predict, model, batch_size=val_batch_size)
    validate = ValidationAuroc(val_x, val_labels, label_names, predict=predict, loss=model.loss)
    return model.fit(
        train_data,
        epochs=phase.epochs,
        initial_epoch=resume["epoch"] if resume else 0,
        steps_per_epoch=steps_per_epoch,
        shuffle=False,  # the data shuffles itself, per (seed, epoch)
        callbacks=_callbacks(run, phase, best_model or model, validate, epoch_logs, resume),
        verbose=progress.fit_verbose(),  # a plain line per epoch in logs
    )


def _callbacks(run, phase: Phase, best_model, validate, epoch_logs, resume):
    """A phase's callbacks: validation before all that reads it, the checkpoint last."""
    plateau = Plateau(
        lr_patience=phase.lr_patience,
        stop_patience=phase.stop_patience,
        state=resume and resume["plateau"],
        monitor=phase.monitor,
    )
    best = resume["best"] if resume else None
    return [
        EpochTimer(),
        validate,
        keras.callbacks.TerminateOnNaN(),
        plateau,
        *epoch_logs,
        Checkpoint(run, phase.name, best_model, plateau, best),
    ]
