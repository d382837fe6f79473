"""The Keras callbacks every training phase runs, in order.

    EpochTimer, ValidationAuroc, TerminateOnNaN, Plateau, epoch logs, Checkpoint

`ValidationAuroc` adds the exact validation AUROCs to the epoch logs; the logs
then go to metrics.jsonl and W&B (`cxr.tracking.wandb_logging.EpochLog`), and `Checkpoint`
saves last, so an epoch that was logged is never lost. `Plateau` and `Checkpoint` keep their
state in the run directory, so a resumed run behaves as an uninterrupted one.
"""

import math
import os
import time

import keras

from cxr.runtime import distribution
from cxr.stats.auroc import macro_auroc, per_label_auroc
from cxr.tracking.metric_keys import MONITOR, val_auroc_key
from cxr.tracking.rundir import RunDir


class ValidationAuroc(keras.callbacks.Callback):
    """Adds `MONITOR` and `val/auroc/<label>` (exact, scikit-learn) to the logs.

    Args:
        x: validation inputs (array or a one-pass dataset of inputs and labels).
        labels: validation multi-hot labels, `[N, L]`.
        label_names: the L names.
        predict: inputs -> logits; None uses `self.model.predict`.
    """

    def __init__(self, x, labels, label_names, predict=None):
        super().__init__()
        self.x, self.labels, self.label_names = x, labels, label_names
        self.predict = predict

    def on_epoch_end(self, epoch, logs=None):
        predict = self.predict or (lambda x: self.model.predict(x, verbose=0))
        aurocs = per_label_auroc(self.labels, predict(self.x), self.label_names)
        logs[MONITOR] = macro_auroc(aurocs)
        logs.update({val_auroc_key(name): value for name, value in aurocs.items()})


class Plateau(keras.callbacks.Callback):
    """Reduce-on-plateau and early stopping on `MONITOR`, with a state to resume.

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
            self.best, self.lr_wait = state["best"], state["lr_wait"]
            self.stop_wait = state["stop_wait"]

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
    """Saves the best model by `MONITOR` and a resumable checkpoint each epoch.

    Files (atomic renames, so a kill -9 leaves the previous ones intact): the run's
    model file (the best full model), its phase checkpoint (the model being fitted,
    with its optimizer state) and its state file.

    Args:
        run: the `RunDir`.
        phase: name of this training phase (`head` or `finetune`).
        best_model: the full model to save when validation improves; may differ
            from the fitted model (the head shares its layers).
        plateau: the `Plateau` callback whose counters go into the state.
        best: best validation macro AUROC so far (resume).
    """

    def __init__(self, run: RunDir, phase, best_model, plateau, best=-math.inf):
        super().__init__()
        self.run, self.phase = run, phase
        self.best_model, self.plateau, self.best = best_model, plateau, best

    def on_epoch_end(self, epoch, logs=None):
        current = logs.get(MONITOR, math.nan)
        if current > self.best or not self.run.model_file.exists():
            self.best = current if current > self.best else self.best
            atomic_save(self.best_model, self.run.model_file)
        self.run.checkpoints_dir.mkdir(exist_ok=True)
        atomic_save(self.model, self.run.checkpoint(self.phase))
        done = epoch + 1 >= self.params["epochs"] or self.model.stop_training
        self.run.save_state(
            {
                "phase": self.phase,
                "epoch": epoch + 1,
                "done": bool(done),
                "best": self.best,
                "plateau": self.plateau.state(),
            }
        )


def atomic_save(model, path):
    """`model.save(path)` through a temporary file, so a kill leaves the old file or the new.

    The file is the same on any device count (`cxr.runtime.distribution.portable`).
    """
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    with distribution.portable(model):
        model.save(tmp)
    os.replace(tmp, path)


class EpochTimer(keras.callbacks.Callback):
    """Adds `epoch_seconds` (wall time of the epoch, validation included) to the logs."""

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs["epoch_seconds"] = time.perf_counter() - self.start
