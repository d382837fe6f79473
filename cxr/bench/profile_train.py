"""`cxr bench --only profile`, training: where a training step's time goes against the
arithmetic (row 4's goal: training >= 0.30x the forward rate, as a step costs about
three forward passes), each part timed alone on one in-memory batch of 16 at 224 px,
all layers trainable.

Stages, each in images/s with its ratio against the inference forward at batch 32
(row 1's, the goal's baseline, measured among them), their repeats taken in turn
(`measure.interleaved`):
- the inference forward at batch 32, and at batch 16 (the batch size's share of the gap);
- the forward in training mode (batch norm's batch statistics) in a `tf.function`;
- the loss alone, on fixed logits;
- forward and backward (`tf.GradientTape` gradients), without the update;
- the optimizer's update alone (Adam, gradients given);
- our own step (forward, backward, update) in one `tf.function`;
- Keras's `train_on_batch` (row 4's figure), whose extra over our own step is Keras's;
- the training input pipeline alone (`cxr.data.datasets.batches(training=True)`:
  decode, shuffle, batch, model input) over a synthetic split.
"""

import time

import keras
import tensorflow as tf

from cxr.bench import measure
from cxr.bench.measure import rate, row, timed
from cxr.data import datasets

BATCH = 16
REFERENCE_BATCH = 32  # row 1's forward batch, the goal's baseline


def step_functions(model):
    """tf.functions of a step's parts: (forward, loss, forward+backward, update, step)."""
    loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)
    optimizer = keras.optimizers.Adam(1e-4)
    optimizer.build(model.trainable_variables)
    variables = model.trainable_variables

    @tf.function
    def forward(x):
        return model(x, training=True)

    @tf.function
    def loss(y, logits):
        return loss_fn(y, logits)

    @tf.function
    def gradients(x, y):
        with tf.GradientTape() as tape:
            value = loss_fn(y, model(x, training=True))
        return tape.gradient(value, variables)

    @tf.function
    def update(grads):
        optimizer.apply(grads, variables)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            value = loss_fn(y, model(x, training=True))
        optimizer.apply(tape.gradient(value, variables), variables)
        return value

    return forward, loss, gradients, update, step


def step_rates(backbone, repeats) -> dict:
    """{stage: images/s} of each part of a training step (module docstring)."""
    model = measure.build(backbone, trainable="all")
    x, y = tf.constant(measure.pixels(BATCH)), tf.constant(measure.labels(BATCH))
    forward, loss, gradients, update, step = step_functions(model)
    logits = forward(x)
    grads = gradients(x, y)
    keras_model = measure.build(backbone, trainable="all")
    keras_model.compile(
        keras.optimizers.Adam(1e-4), keras.losses.BinaryCrossentropy(from_logits=True)
    )
    x_host, y_host = x.numpy(), y.numpy()

    inference = tf.function(model)
    x32 = tf.constant(measure.pixels(REFERENCE_BATCH))
    timings = measure.interleaved(
        {
            "forward, inference, at batch 32 (row 1's, the baseline)": lambda: inference(
                x32, training=False
            ).numpy(),
            "forward, inference, at batch 16": lambda: inference(x, training=False).numpy(),
            "forward in training mode": lambda: forward(x).numpy(),
            "loss alone": lambda: loss(y, logits).numpy(),
            "forward + backward (GradientTape), no update": lambda: gradients(x, y)[0].numpy(),
            "optimizer update alone (Adam)": lambda: update(grads),
            "our own step (forward, backward, update) in one tf.function": lambda: step(x, y),
            "Keras train_on_batch (row 4)": lambda: keras_model.train_on_batch(x_host, y_host),
        },
        repeats,
    )
    sizes = {name: REFERENCE_BATCH if "batch 32" in name else BATCH for name in timings}
    return {name: rate(sizes[name], seconds) for name, seconds in timings.items()}


def pipeline_rate(builder, repeats, split="train") -> dict:
    """Images/s of the training input pipeline alone, one epoch of `split`."""
    n = builder.info.splits[split].num_examples
    ds = datasets.batches(builder, split, batch_size=BATCH, training=True)
    return rate(n, timed(lambda: [None for _ in ds], repeats))


def train_profile(builder, backbone, repeats) -> list[dict]:
    """The training stages as rows against the inference forward at batch 32 measured
    among them (row 1's rate, row 4's baseline)."""
    start = time.perf_counter()
    rates = step_rates(backbone, repeats)
    forward = next(iter(rates.values()))
    rates["training input pipeline alone (datasets.batches, training=True)"] = pipeline_rate(
        builder, repeats
    )
    rows = [
        {**row(f"profile train: {name}", r, forward), "ms_per_image": 1000 / r["median"]}
        for name, r in rates.items()
    ]
    print(f"profile train: {time.perf_counter() - start:.0f} s")
    return rows
