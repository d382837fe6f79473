"""Row 6 of `make bench`: one fine-tuning epoch over NIH's train+validation images on a
GPU, projected from training images/s under the settings `"auto"` picks
(`cxr.runtime.speed`) and the pipeline's rate, against the goal of 45 s on one H100.
"""

import keras
import tensorflow as tf

from cxr.bench import measure
from cxr.bench.measure import rate, row, timed, with_policy
from cxr.model import backbones

EPOCH_IMAGES = 86_524  # NIH's official train+validation list (train_val_list.txt)
EPOCH_SECONDS_GOAL = 45  # one fine-tuning epoch on one H100


def epoch_rate(choice, *, batch, steps, make_model=None, repeats=3):
    """Row 6: fine-tuning images/s under `choice` (a `cxr.runtime.speed.Choice`), as `fit` trains.

    Args:
        choice: the precision and XLA to train with.
        batch: images per step.
        steps: steps per timed repeat.
        make_model: `() -> model` (logits out, 14 labels); None: DenseNet121, all trainable.
        repeats: timed repeats after a warm-up.
    """

    def measure_epoch():
        model = (make_model or (lambda: measure.build(trainable="all")))()
        model.compile(
            keras.optimizers.Adam(1e-4),
            keras.losses.BinaryCrossentropy(from_logits=True),
            jit_compile=choice.xla,
        )
        side = model.input.shape[1]
        x = tf.random.uniform((batch, side, side, 3), 0, 255)
        y = tf.cast(tf.random.uniform((batch, 14)) < 0.1, tf.float32)
        images = tf.data.Dataset.from_tensors((x, y)).repeat()

        def epoch():
            model.fit(images, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)

        return rate(batch * steps, timed(epoch, repeats))

    return with_policy(choice.precision, measure_epoch)


def epoch_row(choice, train, pipeline, batch, backbone=backbones.DEFAULT):
    """Row 6 from the training and pipeline rates: the epoch takes the slower one's time.

    The name holds no measured figure, so that `--compare` matches the row across runs;
    the epoch's seconds are in `epoch_seconds` and the printed table's note.
    """
    goal_rate = EPOCH_IMAGES / EPOCH_SECONDS_GOAL
    seconds = EPOCH_IMAGES / min(train["median"], pipeline["median"])
    settings = f"{choice.precision}, XLA {'on' if choice.xla else 'off'}"
    result = row(
        f"6. {backbone} fine-tuning (batch {batch}, {settings}) vs the {goal_rate:,.0f} "
        f"images/s of one {EPOCH_IMAGES:,}-image epoch in {EPOCH_SECONDS_GOAL} s",
        train,
        {"median": goal_rate, "min": goal_rate, "max": goal_rate},
        goal=1.0,
    )
    note = f"epoch: {seconds:,.0f} s"
    return {**result, "backbone": backbone, "epoch_seconds": seconds, "pipeline": pipeline,
            "note": note}  # fmt: skip


def gpu_epoch_rows(choice, sizes, backbone, pipeline, gpu):
    """Row 6 under `choice`, or none (and a note) when `choice` is None."""
    if choice is None:
        print("6. fine-tuning epoch: skipped, no GPU (--epoch_row measures it anyway)")
        return []
    b = 64 if gpu else 8  # per device, as a GPU run would use
    make = lambda: measure.build(backbone, trainable="all")  # noqa: E731
    train = epoch_rate(choice, batch=b, steps=sizes.epoch_steps, make_model=make,
                       repeats=sizes.few_repeats)  # fmt: skip
    return [epoch_row(choice, train, pipeline, b, backbone)]
