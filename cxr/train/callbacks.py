"""The Keras callbacks every training phase runs, in order.

    EpochTimer, ValidationAuroc, TerminateOnNaN, Plateau, epoch logs, Checkpoint

`ValidationAuroc` adds the exact validation AUROCs (and the validation loss) to the epoch
logs; the logs then go to metrics.jsonl and W&B (`cxr.tracking.wandb_logging.EpochLog`), and
`Checkpoint` saves last, so an epoch that was logged is never lost. `Plateau` and `Checkpoint`
follow the phase's `Monitor` (validation macro AUROC up, or validation loss down) and keep
their state in the run directory, so a resumed run behaves as an uninterrupted one.
"""

import math
import os
import time

import keras

from cxr.runtime import distribution, progress
from cxr.stats.auroc import macro_auroc, per_label_auroc
from cxr.tracking.metric_keys import MONITOR, VAL_LOSS, val_auroc_key
from cxr.tracking.rundir import RunDir
from cxr.train.phases import VAL_AUROC_MAX, Monitor


class ValidationAuroc(keras.callbacks.Callback):
    """Adds `MONITOR`, `val/auroc/<label>` (exact, scikit-learn) and `VAL_LOSS` to the logs.

    Args:
        x: validation inputs (array or a one-pass dataset of inputs and labels).
        labels: validation multi-hot labels, `[N, L]`.
        label_names: the L names.
        predict: inputs -> logits; None uses `self.model.predict`.
        loss: `(labels, logits) -> mean loss`, the training loss; None logs no `VAL_LOSS`.
            Computed on the whole split at once, not averaged over batches.
    """

    def __init__(self, x, labels, label_names, predict=None, loss=None):
        super().__init__()
        self.x, self.labels, self.label_names = x, labels, label_names
        self.predict, self.loss = predict, loss

    def on_epoch_end(self, epoch, logs=None):
        predict = self.predict or (lambda x: self.model.predict(x, verbose=0))
        logits = predict(self.x)
        aurocs = per_label_auroc(self.labels, logits, self.label_names)
        logs[MONITOR] = macro_auroc(aurocs)
        logs.update({val_auroc_key(name): value for name, value in aurocs.items()})
        if self.loss is not None:
            value = self.loss(keras.ops.convert_to_tensor(self.labels, "float32"), logits)
            logs[VAL_LOSS] = float(keras.ops.convert_to_numpy(value))


class Plateau(keras.callbacks.Callback):
    """Reduce-on-plateau and early stopping on a `Monitor`, with a state to resume.

    Keras's own two callbacks forget their counters when `fit` starts again, so a
    resumed run would drift from an uninterrupted one.

    Args:
        factor: learning-rate multiplier after `lr_patience` epochs without a new best.
        lr_patience: epochs without improvement before reducing the learning rate.
        stop_patience: epochs without improvement before stopping.
        min_lr: the learning rate is never reduced below this.
        state: from `state()` of a previous run, to resume.
        monitor: the metric and its direction; validation macro AUROC, higher better.
    """

    def __init__(
        self,
        factor=0.1,
        lr_patience=1,
        stop_patience=3,
        min_lr=1e-7,
        state=None,
        monitor: Monitor = VAL_AUROC_MAX,
    ):
        super().__init__()
        self.factor, self.lr_patience = factor, lr_patience
        self.stop_patience, self.min_lr, self.monitor = stop_patience, min_lr, monitor
        self.best, self.lr_wait, self.stop_wait = monitor.worst, 0, 0
        if state:
            self.best, self.lr_wait = state["best"], state["lr_wait"]
            self.stop_wait = state["stop_wait"]

    def state(self):
        return {"best": self.best, "lr_wait": self.lr_wait, "stop_wait": self.stop_wait}

    def on_epoch_end(self, epoch, logs=None):
        logs["learning_rate"] = float(
            keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        )
        current = logs.get(self.monitor.key, math.nan)
        if self.monitor.improved(current, self.best):
            self.best, self.lr_wait, self.stop_wait = current, 0, 0
            return
        self.lr_wait += 1
        self.stop_wait += 1
        if self.lr_wait >= self.lr_patience:
            new_lr = max(logs["learning_rate"] * self.factor, self.min_lr)
            self.model.optimizer.learning_rate.assign(new_lr)
            self.lr_wait = 0
            key = self.monitor.key
            print(
                f"{_off_the_bar()}Epoch {epoch + 1}: no better {key}; learning rate -> {new_lr:.2e}"
            )
        if self.stop_wait >= self.stop_patience:
            key = self.monitor.key
            print(
                f"{_off_the_bar()}Epoch {epoch + 1}: no better {key} for {self.stop_wait} epochs; stopping"
            )
            self.model.stop_training = True


def _off_the_bar() -> str:
    """A line break that ends the live bar's unfinished line at a terminal; none in a log,
    where no bar is drawn mid-epoch (`cxr.runtime.progress`) and it would be a blank line."""
    return "\n" if progress.live() else ""


class Checkpoint(keras.callbacks.Callback):
    """Saves the best model by the plateau's `Monitor` and a resumable checkpoint each epoch.

    Files (atomic renames, so a kill -9 leaves the previous ones intact): the run's
    model file (the best full model), its phase checkpoint (the model being fitted,
    with its optimizer state) and its state file.

    Args:
        run: the `RunDir`.
        phase: name of this training phase (`head` or `finetune`).
        best_model: the full model to save when validation improves; may differ
            from the fitted model (the head shares its layers).
        plateau: the `Plateau` callback whose counters go into the state, and whose
            `Monitor` chooses the best model.
        best: best monitored value so far (resume); None: none yet.
    """

    def __init__(self, run: RunDir, phase, best_model, plateau, best=None):
        super().__init__()
        self.run, self.phase, self.monitor = run, phase, plateau.monitor
        self.best_model, self.plateau = best_model, plateau
        self.best = self.monitor.worst if best is None else best

    def on_epoch_end(self, epoch, logs=None):
        current = logs.get(self.monitor.key, math.nan)
        improved = self.monitor.improved(current, self.best)
        if improved or not self.run.model_file.exists():
            self.best = current if improved else self.best
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
                "monitor": self.monitor.key,  # absent in older runs: MONITOR
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
