"""`cxr bench --only profile`, prediction: where end-to-end prediction loses against the
model's forward rate (row 2's goal: >= 0.9x), each candidate cause timed alone on the
same images, batch and model.

Stages, each a rate in images/s (`ratio` against the forward alone), their repeats
taken in turn (`measure.interleaved`), so that a drifting load slows them alike:
- the forward alone, a `tf.function` call on an in-memory batch (row 1's way), per
  image of full batches (the model's limit), and per image of the pass (the last
  batch's padded rows: a pass of n images makes ceil(n / 32) calls of 32);
- the forward as prediction calls it (`model.predict_on_batch` on a numpy batch: Keras's
  per-call work and the host-to-device copy of the inputs);
- the host's share per batch: padding the batch (`np.pad`) and the sigmoid with its
  copy back (`keras.ops.sigmoid` + `convert_to_numpy`), as `cxr.inference.scoring` does;
- decoding alone (the stored PNGs through `tf.io.decode_png`), and the whole evaluation
  input pipeline alone (decode, model input: cast and gray to 3 channels, batch, to numpy);
- a pass's fixed cost: making the evaluation pipeline (tracing its maps) and waiting
  for its first batch, which nothing overlaps (spread over the pass's images);
- end-to-end prediction (`split_predictions.predict_split`), the row-2 figure;
- the sum of the parts run one after the other (what no overlap would give), and
  end-to-end less the fixed cost: what a split of many batches approaches.
The images are stored at the model's size: no resize runs at prediction time.
"""

import contextlib
import io
import time

import keras
import numpy as np
import tensorflow as tf

from cxr.bench import measure
from cxr.bench.measure import rate, row
from cxr.data import datasets, evaluation_batches
from cxr.pipeline import split_predictions

BATCH = 32


def stage_rates(builder, model, split, repeats) -> dict:
    """{stage: rate} of every prediction stage over `split` of `builder` (module docstring)."""
    n = builder.info.splits[split].num_examples
    x = tf.constant(measure.pixels(BATCH))
    fn = tf.function(model)
    x_host = x.numpy()
    calls = -(-n // BATCH)  # the model calls a pass over the split makes
    logits = np.zeros((BATCH, model.output.shape[-1]), np.float32)
    short = x_host[: BATCH - 1]

    def host():
        np.pad(short, [(0, 1), (0, 0), (0, 0), (0, 0)])
        keras.ops.convert_to_numpy(keras.ops.sigmoid(logits))

    def decode():
        for _ in datasets.records(builder, split, decode_images=False).map(
            lambda ex: tf.io.decode_png(ex["image"], channels=1), datasets.AUTOTUNE
        ):
            pass

    def pipeline():
        for _ in evaluation_batches.batches(builder, split, BATCH).as_numpy_iterator():
            pass

    def first_batch():  # a pass's fixed cost: the pipeline made (its maps traced), one batch
        next(evaluation_batches.batches(builder, split, BATCH).as_numpy_iterator())

    def end_to_end():
        with contextlib.redirect_stdout(io.StringIO()):  # its progress bar
            split_predictions.predict_split(
                model=model, builder=builder, split=split, batch_size=BATCH,
                label_names=datasets.label_names(builder.info),
            )  # fmt: skip

    def per_pass(fn_call):  # `calls` model calls: one pass's worth
        return lambda: [fn_call() for _ in range(calls)]

    # The forward row is the model's limit: per image of full batches. Every other stage
    # is per image of the pass (`n`): the last batch's padded rows are its cost.
    images = {"forward (tf.function, in-memory batch)": calls * BATCH}
    timings = measure.interleaved(
        {
            "forward (tf.function, in-memory batch)": per_pass(
                lambda: fn(x, training=False).numpy()
            ),
            "forward as prediction calls it (predict_on_batch, numpy in)": per_pass(
                lambda: model.predict_on_batch(x_host)
            ),
            "host per batch: np.pad + sigmoid + copy back": per_pass(host),
            "decode alone (PNG -> uint8)": decode,
            "evaluation input pipeline alone (decode, model input, batch, to numpy)": pipeline,
            "a pass's fixed cost: the pipeline made and its first batch ready": first_batch,
            "end-to-end predict (split_predictions.predict_split)": end_to_end,
        },
        repeats,
    )
    return {name: rate(images.get(name, n), seconds) for name, seconds in timings.items()}


def serial(rates: dict, names) -> dict:
    """The rate of running `names`' stages one after the other (seconds per image add up)."""
    seconds = sum(1 / rates[name]["median"] for name in names)
    return {"median": 1 / seconds, "min": 1 / seconds, "max": 1 / seconds}


def steady(rates: dict, whole: str, fixed: str) -> dict:
    """The rate of `whole` without `fixed`'s once-per-pass seconds (both per image)."""
    seconds = 1 / rates[whole]["median"] - 1 / rates[fixed]["median"]
    value = 1 / max(seconds, 1e-9)
    return {"median": value, "min": value, "max": value}


def predict_profile(builder, model, repeats, split="train") -> list[dict]:
    """The prediction stages as rows against the forward alone (ratio = stage / forward).

    A pass's fixed cost is spread over the pass's images (the section's name says how
    many): end-to-end less it is the rate a split of many batches approaches.
    """
    start = time.perf_counter()
    rates = stage_rates(builder, model, split, repeats)
    names = list(rates)
    n = builder.info.splits[split].num_examples
    calls = -(-n // BATCH)
    padded = {k: v * n / (calls * BATCH) for k, v in rates[names[0]].items()}
    rates = {  # the padding's share: the same forward, per image of the pass
        names[0]: rates[names[0]],
        f"forward per image of the pass ({calls} calls of {BATCH} for {n} images: padding)": padded,
        **{name: rates[name] for name in names[1:]},
    }
    names = list(rates)
    rates["the parts one after the other (no overlap): predict_on_batch + host + pipeline"] = (
        serial(rates, names[2:4] + names[5:6])
    )
    rates["end-to-end less the pass's fixed cost (a long split's rate)"] = steady(
        rates, names[7], names[6]
    )
    forward = rates[names[0]]
    rows = [
        {
            **row(f"profile predict ({n} images): {name}", r, forward),
            "ms_per_image": 1000 / r["median"],
        }
        for name, r in rates.items()
    ]
    print(f"profile predict: {time.perf_counter() - start:.0f} s")
    return rows
