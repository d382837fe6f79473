"""The bench's measuring tools: timing, rates, a row, and the model rates rows 1, 4 and 9
share (forward and training images/s of a backbone on in-memory tensors).

Every figure is the median of `repeats` timed calls after one warm-up, with the min and
max, so that a reader sees the spread. The models take raw [0, 255] pixels (their
preprocessing is their first layer), so the inputs are uniform in that range.
"""

import contextlib
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from cxr.bench.plan import SIZE
from cxr.model import backbones, classifier

REPEATS = 5  # timed repeats per figure, after one warm-up
NUM_LABELS = 14


_warm_ups = [True]  # False inside `no_warm_ups()`


@contextlib.contextmanager
def no_warm_ups(skip=True):
    """`timed` skips its warm-ups inside this block (when `skip`): a check run of every row
    (`--scale` below 1), whose figures are not measurements, at half the cost."""
    _warm_ups.append(not skip)
    try:
        yield
    finally:
        _warm_ups.pop()


def timed(fn, repeats=REPEATS, warm_up=None):
    """Runs `warm_up` (default fn) once, then fn `repeats` times; seconds (median, min, max)."""
    if _warm_ups[-1]:
        (warm_up or fn)()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return {"median": statistics.median(seconds), "min": min(seconds), "max": max(seconds)}


def rate(n, seconds):
    """Images/s from a `timed` result: the median, and the range from max and min time."""
    return {"median": n / seconds["median"], "min": n / seconds["max"], "max": n / seconds["min"]}


def row(name, figure, baseline, *, goal=None, unit="images/s"):
    """One row: `figure` against `baseline` (both {median, min, max}), ratio of medians.

    A row with a `goal` says whether its ratio meets it (`meets_goal`); one without has
    both None, so that every row has the same keys.
    """
    ratio = figure["median"] / baseline["median"]
    return {
        "row": name,
        "figure": figure,
        "baseline": baseline,
        "ratio": ratio,
        "unit": unit,
        "goal": goal,
        "meets_goal": None if goal is None else ratio >= goal,
    }


def with_policy(policy, fn):
    """Runs fn under a Keras dtype policy, then restores float32."""
    keras.mixed_precision.set_global_policy(policy)
    try:
        return fn()
    finally:
        keras.mixed_precision.set_global_policy("float32")


def pixels(batch, side=SIZE, seed=0):
    """A batch of random raw pixels, [0, 255] gray-as-RGB as the models take them."""
    gray = np.random.default_rng(seed).uniform(0, 255, size=(batch, side, side, 1))
    return np.repeat(gray, 3, axis=-1).astype("float32")


def labels(batch, seed=0):
    """Random multi-hot labels, about 10% positive as in NIH's data."""
    return (np.random.default_rng(seed).random((batch, NUM_LABELS)) < 0.1).astype("float32")


def build(backbone=backbones.DEFAULT, trainable="head", size=SIZE):
    """A random-init classifier on `backbone` at `size` px."""
    return classifier.build_model(
        backbone=backbone, image_size=size, weights=None, trainable=trainable
    )


def forward_rate(
    batch, jit=False, policy="float32", *, backbone=backbones.DEFAULT, repeats=REPEATS
):
    """Forward images/s of `backbone` on an in-memory batch (row 1, row 9)."""

    def measure():
        model = build(backbone)
        fn = tf.function(model, jit_compile=True) if jit else tf.function(model)
        x = tf.constant(pixels(batch))
        return rate(batch, timed(lambda: fn(x, training=False).numpy(), repeats))

    return with_policy(policy, measure)


def train_rate(batch, jit=False, policy="float32", *, backbone=backbones.DEFAULT, repeats=3):
    """Training images/s (forward and backward, all layers trainable) (row 4, row 9)."""

    def measure():
        model = build(backbone, trainable="all")
        model.compile(
            keras.optimizers.Adam(1e-4),
            keras.losses.BinaryCrossentropy(from_logits=True),
            jit_compile=jit,
        )
        x, y = pixels(batch), labels(batch)
        return rate(batch, timed(lambda: model.train_on_batch(x, y), repeats))

    return with_policy(policy, measure)


def interleaved(fns: dict, repeats=REPEATS) -> dict:
    """{name: `timed` result} of several functions, their repeats taken in turn (one of
    each, then again): a machine whose load drifts during the run slows them alike,
    where timing each to the end before the next would charge the drift to one of them.
    Each is warmed up once first (unless inside `no_warm_ups`)."""
    if _warm_ups[-1]:
        for fn in fns.values():
            fn()
    seconds = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            seconds[name].append(time.perf_counter() - start)
    return {
        name: {"median": statistics.median(s), "min": min(s), "max": max(s)}
        for name, s in seconds.items()
    }
