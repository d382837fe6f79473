"""A training phase carries every setting of its own training; the loop reads no config.

    head = Phase("head", epochs=30, learning_rate=1e-3, lr_patience=5, stop_patience=15,
                 batch_size=256, feature_cache_dir="~/.cache/cxr/features")
    finetune = Phase("finetune", epochs=10, learning_rate=1e-4, lr_patience=1, stop_patience=3,
                     batch_size=32, trainable="all", augment=augmenter, monitor=VAL_LOSS_MIN)

`cxr.pipeline.experiment` builds the phases from a config; `cxr.train.loop.train` runs them.
"""

import dataclasses
import math
from collections.abc import Callable

from cxr.errors import UserError
from cxr.tracking.metric_keys import MONITOR, VAL_LOSS


@dataclasses.dataclass(frozen=True)
class Monitor:
    """The validation metric that drives lr / 10, early stopping and the best model.

    Attributes:
        key: its key in the epoch logs (`cxr.tracking.metric_keys`).
        mode: "max" (higher is better) or "min".
    """

    key: str
    mode: str

    @property
    def worst(self) -> float:
        """A value every real one improves on."""
        return -math.inf if self.mode == "max" else math.inf

    def improved(self, current: float, best: float) -> bool:
        """Whether `current` beats `best`; NaN never does."""
        return current > best if self.mode == "max" else current < best


VAL_AUROC_MAX = Monitor(MONITOR, "max")
VAL_LOSS_MIN = Monitor(VAL_LOSS, "min")
MONITORS = {m.key: m for m in (VAL_AUROC_MAX, VAL_LOSS_MIN)}


def monitor(key: str) -> Monitor:
    """The `Monitor` of a log key; a `UserError` names the keys there are."""
    if key not in MONITORS:
        raise UserError(f"train.monitor={key!r}: use one of {', '.join(MONITORS)}")
    return MONITORS[key]


@dataclasses.dataclass(frozen=True)
class Phase:
    """One training phase and all its settings.

    Attributes:
        name: names its checkpoint, its state and its lines in metrics.jsonl.
        epochs: epochs of the phase; 0 skips it.
        learning_rate: Adam's initial learning rate.
        lr_patience: epochs without a better `monitor` before lr /= 10.
        stop_patience: epochs without a better `monitor` before stopping.
        batch_size: rows per optimizer step, over all devices: images, or feature
            vectors when the phase trains on the feature cache.
        trainable: which layers train (`cxr.model.freezing.set_trainable`): "head",
            "all" or "last_blocks:N".
        feature_cache_dir: where pooled features are cached; the phase then trains the
            head on them. Only with `trainable="head"` and no augmentation.
        augment: a train-time augmentation callable on [0, 255] batches, or None.
        pos_weight: weight each label's positives by N_neg / N_pos of the train split.
        monitor: the validation metric for plateau, early stopping and the best model.
    """

    name: str
    epochs: int
    learning_rate: float
    lr_patience: int
    stop_patience: int
    batch_size: int = 32
    trainable: str = "head"
    feature_cache_dir: object = None
    augment: Callable | None = None
    pos_weight: bool = False
    monitor: Monitor = VAL_AUROC_MAX

    def __post_init__(self):
        # Cached features are those of a frozen backbone on unaugmented images.
        if self.feature_cache_dir is not None and self.trainable != "head":
            raise ValueError(f"phase {self.name}: a feature cache needs trainable='head'")
        if self.feature_cache_dir is not None and self.augment is not None:
            raise ValueError(f"phase {self.name}: augmented views cannot come from a cache")
