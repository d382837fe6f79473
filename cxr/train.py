"""The trainer: one `fit_phase` for both the head on cached features and fine-tuning.

A phase compiles a model (BCE on logits, Adam), fits it with the callbacks every
run needs (validation AUROC, reduce-on-plateau, early stopping, NaN guard, best
model, resumable checkpoint) and can be killed at any moment: started again with
the same run directory, it continues after its last completed epoch with the
weights, the optimizer state and the callbacks' state it had, and since every
epoch's shuffle depends only on (seed, epoch), it ends where an uninterrupted
run ends.
"""

import json
import math
import os
import pathlib
import time

import keras
import numpy as np

from cxr.metrics import macro_auroc, per_label_auroc

CHECKPOINTS = "checkpoints"
MONITOR = "val_macro_auroc"


@keras.saving.register_keras_serializable(package="cxr")
class WeightedBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy on logits with a weight on each label's positives.

    Keras's `class_weight` cannot do this: for multi-label targets it weights
    each sample by `argmax(y)`, one label only.

    Args:
        pos_weight: one weight per label for its positive terms; N_neg / N_pos of
            the training split balances each label.
    """

    def __init__(self, pos_weight, name="weighted_bce", **kwargs):
        super().__init__(name=name, **kwargs)
        self.pos_weight = [float(w) for w in pos_weight]

    def call(self, y_true, y_pred):
        y_true = keras.ops.cast(y_true, y_pred.dtype)
        w = keras.ops.convert_to_tensor(self.pos_weight, dtype=y_pred.dtype)
        # -log(sigmoid(z)) = softplus(-z) and -log(1 - sigmoid(z)) = softplus(z), stably.
        loss = w * y_true * keras.ops.softplus(-y_pred) + (1 - y_true) * keras.ops.softplus(y_pred)
        return keras.ops.mean(loss, axis=-1)

    def get_config(self):
        return {**super().get_config(), "pos_weight": self.pos_weight}


def positive_weights(labels: np.ndarray) -> np.ndarray:
    """N_neg / N_pos per label column; 1 where a label has no positive (or no negative)."""
    positives = labels.sum(axis=0)
    negatives = len(labels) - positives
    ok = (positives > 0) & (negatives > 0)
    return np.where(ok, negatives / np.maximum(positives, 1), 1.0).astype("float32")


class ShuffledArrays(keras.utils.PyDataset):
    """Batches of in-memory arrays, epoch k shuffled with seed (seed, k).

    Args:
        x, y: arrays with the same first dimension.
        batch_size: rows per batch; the last batch may be smaller.
        seed: shuffle seed.
        first_epoch: the epoch to start at (a resumed run's next epoch).
    """

    def __init__(self, x, y, batch_size, seed=0, first_epoch=0):
        super().__init__()
        self.x, self.y, self.batch_size, self.seed = x, y, batch_size, seed
        self.epoch = first_epoch
        self._order = self._permutation()

    def _permutation(self):
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.x))

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index):
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        return self.x[rows], self.y[rows]

    def on_epoch_end(self):
        self.epoch += 1
        self._order = self._permutation()


class ValidationAuroc(keras.callbacks.Callback):
    """Adds `val_macro_auroc` and `val/auroc/<label>` (exact, scikit-learn) to the logs.

    Args:
        x: validation inputs (array or a one-pass dataset of inputs and labels).
        labels: validation multi-hot labels, `[N, L]`.
        label_names: the L names.
    """

    def __init__(self, x, labels, label_names):
        super().__init__()
        self.x, self.labels, self.label_names = x, labels, label_names

    def on_epoch_end(self, epoch, logs=None):
        aurocs = per_label_auroc(
            self.labels, self.model.predict(self.x, verbose=0), self.label_names
        )
        logs[MONITOR] = macro_auroc(aurocs)
        logs.update({f"val/auroc/{name}": value for name, value in aurocs.items()})


class Plateau(keras.callbacks.Callback):
    """Reduce-on-plateau and early stopping on validation macro AUROC, with a state to resume.

    Keras's own two callbacks forget their counters when `fit` starts again, so a
    resumed run would drift from an uninterrupted one.

    Args:
        factor: learning-rate multiplier after `lr_patience` epochs without a new best.
        lr_patience: epochs without improvement before reducing the learning rate.
        stop_patience: epochs without improvement before stopping.
        min_lr: the learning rate is never reduced below this.
        state: from `state()` of a previous run, to resume.
    """

    def __init__(self, factor=0.1, lr_patience=1, stop_patience=3, min_lr=1e-7, state=None):
        super().__init__()
        self.factor, self.lr_patience = factor, lr_patience
        self.stop_patience, self.min_lr = stop_patience, min_lr
        self.best, self.lr_wait, self.stop_wait = -math.inf, 0, 0
        if state:
            self.best, self.lr_wait, self.stop_wait = (
                state["best"],
                state["lr_wait"],
                state["stop_wait"],
            )

    def state(self):
        return {"best": self.best, "lr_wait": self.lr_wait, "stop_wait": self.stop_wait}

    def on_epoch_end(self, epoch, logs=None):
        logs["learning_rate"] = float(
            keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        )
        current = logs.get(MONITOR, math.nan)
        if current > self.best:  # NaN never improves
            self.best, self.lr_wait, self.stop_wait = current, 0, 0
            return
        self.lr_wait += 1
        self.stop_wait += 1
        if self.lr_wait >= self.lr_patience:
            new_lr = max(logs["learning_rate"] * self.factor, self.min_lr)
            self.model.optimizer.learning_rate.assign(new_lr)
            self.lr_wait = 0
            print(f"\nEpoch {epoch + 1}: no better {MONITOR}; learning rate -> {new_lr:.2e}")
        if self.stop_wait >= self.stop_patience:
            print(f"\nEpoch {epoch + 1}: no better {MONITOR} for {self.stop_wait} epochs; stopping")
            self.model.stop_training = True


class Checkpoint(keras.callbacks.Callback):
    """Saves the best model by validation macro AUROC and a resumable checkpoint each epoch.

    Files (atomic renames, so a kill -9 leaves the previous ones intact):
    `<run_dir>/model.keras` (the best full model), `checkpoints/<phase>.keras`
    (the model being fitted, with its optimizer state) and `checkpoints/state.json`.

    Args:
        run_dir: the run directory.
        phase: name of this training phase (`head` or `finetune`).
        best_model: the full model to save as `model.keras` when validation improves;
            may differ from the fitted model (the head shares its layers).
        plateau: the `Plateau` callback whose counters go into the state.
        best: best validation macro AUROC so far (resume).
    """

    def __init__(self, run_dir, phase, best_model, plateau, best=-math.inf):
        super().__init__()
        self.run_dir, self.phase = pathlib.Path(run_dir), phase
        self.best_model, self.plateau, self.best = best_model, plateau, best

    def on_epoch_end(self, epoch, logs=None):
        current = logs.get(MONITOR, math.nan)
        if current > self.best or not (self.run_dir / "model.keras").exists():
            self.best = current if current > self.best else self.best
            _atomic_save(self.best_model, self.run_dir / "model.keras")
        folder = self.run_dir / CHECKPOINTS
        folder.mkdir(exist_ok=True)
        _atomic_save(self.model, folder / f"{self.phase}.keras")
        done = epoch + 1 >= self.params["epochs"] or self.model.stop_training
        state = {
            "phase": self.phase,
            "epoch": epoch + 1,
            "done": bool(done),
            "best": self.best,
            "plateau": self.plateau.state(),
        }
        _atomic_write(folder / "state.json", json.dumps(state))


def _atomic_save(model, path):
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


def _atomic_write(path, text):
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def load_state(run_dir) -> dict | None:
    """The checkpoint state of a run directory, or None if it has none."""
    path = pathlib.Path(run_dir) / CHECKPOINTS / "state.json"
    return json.loads(path.read_text()) if path.exists() else None


class EpochTimer(keras.callbacks.Callback):
    """Adds `epoch_seconds` (wall time of the epoch, validation included) to the logs."""

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs["epoch_seconds"] = time.perf_counter() - self.start


def fit_phase(
    model,
    train_data,
    val_x,
    val_labels,
    *,
    run_dir,
    phase,
    label_names,
    epochs,
    learning_rate,
    steps_per_epoch=None,
    pos_weight=None,
    best_model=None,
    lr_patience=1,
    stop_patience=3,
    resume=None,
    callbacks=(),
):
    """Compiles and fits `model` for one phase; resumes from `resume` if given.

    Args:
        model: the model to fit (the full model, or the head on features).
        train_data: a `keras.utils.PyDataset` or an endless `tf.data.Dataset`
            positioned at the resumed epoch (see `cxr.data.batches`).
        val_x: validation inputs for `ValidationAuroc`.
        val_labels: validation multi-hot labels.
        run_dir: the run directory (checkpoints, `model.keras`).
        phase: `head` or `finetune`; names the checkpoint.
        label_names: the label order.
        epochs: epochs of this phase.
        learning_rate: Adam's initial learning rate.
        steps_per_epoch: batches per epoch for an endless dataset.
        pos_weight: per-label positive weights, or None for plain BCE on logits.
        best_model: full model saved as `model.keras` on a new best (default `model`).
        lr_patience: epochs without a better validation AUROC before lr /= 10.
        stop_patience: epochs without a better validation AUROC before stopping.
        resume: `load_state(run_dir)` when it names this phase; weights, optimizer
            state and counters are restored from the checkpoint.
        callbacks: more callbacks (metrics logging); they see the validation AUROCs
            and run before the checkpoint, so a logged epoch is never lost.

    Returns:
        The Keras `History` of the epochs run now.
    """
    loss = (
        WeightedBinaryCrossentropy(pos_weight)
        if pos_weight is not None
        else keras.losses.BinaryCrossentropy(from_logits=True)
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    first_epoch = 0
    if resume:
        model.optimizer.build(model.trainable_variables)
        model.load_weights(pathlib.Path(run_dir) / CHECKPOINTS / f"{phase}.keras")
        first_epoch = resume["epoch"]
        print(f"Resuming phase {phase!r} after epoch {first_epoch} from {run_dir}")
    plateau = Plateau(
        lr_patience=lr_patience, stop_patience=stop_patience, state=resume and resume["plateau"]
    )
    checkpoint = Checkpoint(
        run_dir, phase, best_model or model, plateau, best=resume["best"] if resume else -math.inf
    )
    return model.fit(
        train_data,
        epochs=epochs,
        initial_epoch=first_epoch,
        steps_per_epoch=steps_per_epoch,
        shuffle=False,  # the data shuffles itself, per (seed, epoch)
        callbacks=[
            EpochTimer(),
            ValidationAuroc(val_x, val_labels, label_names),
            keras.callbacks.TerminateOnNaN(),
            plateau,
            *callbacks,
            checkpoint,
        ],
        verbose=2 if os.environ.get("CI") else 1,
    )
