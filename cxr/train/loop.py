"""The training stage: phases in order, each one `fit_phase`, resumable at any epoch.

    train(model=model, run=run, builder=builder, phases=[Phase("head", ...), ...], ...)

A phase compiles a model (BCE on logits, Adam), fits it with the callbacks every
run needs (`cxr.train.callbacks`: validation AUROC, reduce-on-plateau, early stopping,
NaN guard, logs, best model, resumable checkpoint) and can be killed at any
moment: started again with the same run directory, it continues after its last
completed epoch with the weights, the optimizer state and the callbacks' state
it had, and since every epoch's shuffle depends only on (seed, epoch), it ends
where an uninterrupted run ends.

The `head` phase trains only the logits layer; with a feature cache and no
augmentation it trains on pooled features computed once per split
(`cxr.train.feature_cache`). Later phases unfreeze the backbone and start from the best
model so far.
"""

import dataclasses
import functools
import math
import os
import time

import keras

from cxr.data import datasets
from cxr.model import densenet
from cxr.model.losses import WeightedBinaryCrossentropy, positive_weights
from cxr.runtime import distribution
from cxr.tracking.rundir import RunDir
from cxr.train import feature_cache


@dataclasses.dataclass(frozen=True)
class Phase:
    """One training phase.

    Attributes:
        name: "head" (the backbone frozen) or "finetune"; names its checkpoint.
        epochs: epochs of the phase; 0 skips it.
        learning_rate: Adam's initial learning rate.
        lr_patience: epochs without a better validation macro AUROC before lr /= 10.
        stop_patience: epochs without a better validation macro AUROC before stopping.
        unfreeze: which layers train (`cxr.model.densenet.set_trainable`): "head" for the head
            phase, "all" or "last_blocks:N" for fine-tuning.
    """

    name: str
    epochs: int
    learning_rate: float
    lr_patience: int
    stop_patience: int
    unfreeze: str = "head"


def train(
    *,
    model,
    run: RunDir,
    builder,
    label_names,
    phases,
    train_split,
    val_split,
    batch_size,
    seed,
    shuffle_buffer=2048,
    cache_images=False,
    augment=None,
    pos_weight=False,
    feature_cache_dir=None,
    head_batch_size=256,
    epoch_logs=(),
    distribution=None,
    jit_compile=False,
):
    """Fits `model` phase by phase, continuing a killed run where it stopped.

    Args:
        model: from `cxr.model.densenet.build_model`; trained in place.
        run: the run directory (checkpoints, state, metrics.jsonl, model.keras).
        builder: the dataset (`cxr.data.datasets.prepare`).
        label_names: the label order.
        phases: `Phase`s in order; finished ones (per the run's state) are skipped.
        train_split, val_split: TFDS split expressions.
        batch_size: images per optimizer step, over all devices (global).
        seed: shuffling and augmentation seed.
        shuffle_buffer: examples in the shuffle buffer.
        cache_images: keep decoded training images in RAM after the first epoch.
        augment: a train-time augmentation callable on [0, 255] batches, or None.
        pos_weight: weight each label's positives by N_neg / N_pos of the train split.
        feature_cache_dir: where the head phase caches pooled features; None trains
            the head on images. Unused with augmentation (each view is new).
        head_batch_size: feature vectors per batch when training on the cache.
        epoch_logs: functions `(phase) -> callback` for the epoch records (metrics.jsonl,
            W&B); they run after validation and before the checkpoint.
        distribution: the `cxr.runtime.distribution.Setup` the model was built under; None for one
            device. Each process reads its share of the training records; validation
            scores every image on every process.
        jit_compile: XLA for the training steps (`cxr.runtime.speed` chooses it).
    """
    dist = distribution or distribution.single()
    dist.sync_batchnorm(model)
    state = run.load_state()
    if state:  # a kill may have logged an epoch it did not checkpoint
        run.truncate_metrics(state["phase"], state["epoch"])
    val_images = datasets.batches(builder, val_split, batch_size=batch_size)
    val_labels = datasets.split_labels(builder, val_split)
    weights = positive_weights(datasets.split_labels(builder, train_split)) if pos_weight else None
    done = {p.name for p in phases if state and _finished(state, p.name, phases)}
    for phase in phases:
        if not phase.epochs or phase.name in done:
            continue
        resume = state if state and state["phase"] == phase.name else None
        if phase.name != "head" and not resume and run.model_file.exists():
            model.load_weights(run.model_file)  # fine-tune from the best model so far
        densenet.set_trainable(model, phase.unfreeze)
        common = dict(
            run=run,
            phase=phase,
            label_names=label_names,
            pos_weight=weights,
            resume=resume,
            callbacks=[log(phase.name) for log in epoch_logs],
            jit_compile=jit_compile,
        )
        first = resume["epoch"] if resume else 0
        if phase.name == "head" and feature_cache_dir and augment is None:
            _fit_head_on_features(
                model=model,
                builder=builder,
                splits=(train_split, val_split),
                batch_size=batch_size,
                head_batch_size=head_batch_size,
                cache_dir=feature_cache_dir,
                val_labels=val_labels,
                seed=seed,
                first_epoch=first,
                dist=dist,
                **common,
            )
        else:
            if phase.name == "head" and feature_cache_dir:
                print("Feature cache off: augmentation is on, so the backbone must see every view.")
            images = functools.partial(
                datasets.batches,
                builder,
                train_split,
                training=True,
                augment=augment,
                cache=cache_images,
                shuffle_buffer=shuffle_buffer,
                seed=seed,
                epochs=range(first, phase.epochs),
            )
            feed = dist.feed(batch_size)
            fit_phase(
                model,
                dist.fit_input(images, batch_size),
                val_images,
                val_labels,
                steps_per_epoch=datasets.num_batches(
                    builder, train_split, feed.batch_size, shard=feed.shard, multiple=feed.multiple
                ),
                val_batch_size=batch_size,
                **common,
            )
        state = run.load_state()


def _finished(state, name, phases):
    """Whether phase `name` ended before the state's phase, or is the state's and done."""
    order = [p.name for p in phases]
    if state["phase"] == name:
        return state["done"]
    return order.index(name) < order.index(state["phase"])


def _fit_head_on_features(
    *,
    model,
    builder,
    splits,
    batch_size,
    head_batch_size,
    cache_dir,
    val_labels,
    seed,
    first_epoch,
    dist,
    **common,
):
    """The head phase the fast way: features once per split (cached on disk), then the head.

    With several processes nothing is cached: each would have to know whether every
    other host has the file before they all run the same collective pass.
    """
    extractor = densenet.feature_extractor(model)
    start = time.perf_counter()
    split_features = []
    for split in splits:
        path = None
        if dist.processes == 1:
            path = feature_cache.cache_file(cache_dir, builder, split, extractor)
            print(f"Features of {split}: {'cached' if path.exists() else 'computing'} ({path})")
        else:
            print(f"Features of {split}: computing, not cached ({dist.processes} processes)")
        split_features.append(
            feature_cache.split_features(
                extractor,
                datasets.batches(builder, split, batch_size=batch_size),
                datasets.num_batches(builder, split, batch_size),
                path,
                batch_size=batch_size,
                num_examples=builder.info.splits[split].num_examples,
            )
        )
    fill_seconds = time.perf_counter() - start
    (train_x, train_y), (val_x, _) = split_features
    feed = dist.array_feed(head_batch_size)
    history = fit_phase(
        densenet.head_model(model),
        feature_cache.ShuffledArrays(
            train_x,
            train_y,
            feed.batch_size,
            seed,
            first_epoch,
            shard=feed.shard,
            multiple=feed.multiple,
        ),
        val_x,
        val_labels,
        best_model=model,
        val_batch_size=head_batch_size,
        **common,
    )
    seconds = history.history.get("epoch_seconds", [])
    if len(seconds) >= 2 and not common["resume"]:
        first, second = fill_seconds + seconds[0], seconds[1]
        print(
            f"Head epoch 1 (filling the feature cache): {first:.2f} s; epoch 2 (from the "
            f"cache): {second:.3f} s; {first / second:.0f}x faster"
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
    callbacks=(),
    val_batch_size=32,
    jit_compile=False,
):
    """Compiles and fits `model` for one phase; resumes from `resume` if given.

    Args:
        model: the model to fit (the full model, or the head on features).
        train_data: a `keras.utils.PyDataset` or an endless `tf.data.Dataset`
            positioned at the resumed epoch (see `cxr.data.datasets.batches`).
        val_x: validation inputs for `ValidationAuroc`.
        val_labels: validation multi-hot labels.
        run: the run directory (checkpoints, model.keras, state).
        phase: the `Phase` (name, epochs, learning rate, patiences).
        label_names: the label order.
        steps_per_epoch: batches per epoch for an endless dataset.
        pos_weight: per-label positive weights, or None for plain BCE on logits.
        best_model: full model saved as model.keras on a new best (default `model`).
        resume: the run's state when it names this phase; weights, optimizer
            state and counters are restored from the checkpoint.
        callbacks: more callbacks (epoch logs); they see the validation AUROCs
            and run before the checkpoint, so a logged epoch is never lost.
        val_batch_size: rows per validation prediction call (`cxr.runtime.distribution.predict`);
            no batch of a `val_x` dataset may be longer.
        jit_compile: XLA for the training steps (`cxr.runtime.speed` chooses it).

    Returns:
        The Keras `History` of the epochs run now.
    """
    loss = (
        WeightedBinaryCrossentropy(pos_weight)
        if pos_weight is not None
        else keras.losses.BinaryCrossentropy(from_logits=True)
    )
    model.compile(
        optimizer=keras.optimizers.Adam(phase.learning_rate), loss=loss, jit_compile=jit_compile
    )
    first_epoch = 0
    if resume:
        model.optimizer.build(model.trainable_variables)
        model.load_weights(run.checkpoint(phase.name))
        first_epoch = resume["epoch"]
        print(f"Resuming phase {phase.name!r} after epoch {first_epoch} from {run}")
    plateau = callbacks.Plateau(
        lr_patience=phase.lr_patience,
        stop_patience=phase.stop_patience,
        state=resume and resume["plateau"],
    )
    checkpoint = callbacks.Checkpoint(
        run, phase.name, best_model or model, plateau, best=resume["best"] if resume else -math.inf
    )
    return model.fit(
        train_data,
        epochs=phase.epochs,
        initial_epoch=first_epoch,
        steps_per_epoch=steps_per_epoch,
        shuffle=False,  # the data shuffles itself, per (seed, epoch)
        callbacks=[
            callbacks.EpochTimer(),
            callbacks.ValidationAuroc(
                val_x,
                val_labels,
                label_names,
                predict=lambda x: distribution.predict(model, x, val_batch_size),
            ),
            keras.callbacks.TerminateOnNaN(),
            plateau,
            *callbacks,
            checkpoint,
        ],
        verbose=2 if os.environ.get("CI") else 1,
    )
