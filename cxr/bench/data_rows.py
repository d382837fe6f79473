"""Rows 2 and 3 of `make bench`, on a synthetic `cxr14_subset` at 224 px.

2. The input pipeline (`cxr.data.datasets`: decode, preprocess, batch) alone, and
   end-to-end prediction the way the evaluation predicts, against row 1's forward rate.
3. A head epoch through the frozen backbone against one on cached features
   (`cxr.train.feature_cache`), and the cache's fill time.
"""

import contextlib
import io
import pathlib
import tempfile
import time

import keras

from cxr.bench import build_rows, measure
from cxr.bench.measure import rate, row, timed
from cxr.data import datasets
from cxr.model import backbones, classifier
from cxr.pipeline import evaluate
from cxr.train import feature_cache

BATCH = 32  # row 1's reference batch


def pipeline_rate(builder, batch, repeats=3):
    """Row 2: images/s of `cxr.data.datasets` alone (decode, preprocess, batch), one pass over `train`."""
    n = builder.info.splits["train"].num_examples
    ds = datasets.batches(builder, "train", batch_size=batch)
    return rate(n, timed(lambda: [None for _ in ds], repeats))


def whole_batches(builder, batch) -> int:
    """Row 2's images: `train`'s first whole number of batches (all of it when under one).

    Prediction pads its last call to a full batch. On a split of a few hundred images
    that padding alone caps the ratio below 0.9x (16 of 176 rows: 0.917x), while on NIH's
    test split it is 4 rows of 25,596: the row measures that steady state, not the tail.
    """
    n = builder.info.splits["train"].num_examples
    return (n // batch) * batch or n


def predict_rate(builder, batch, repeats=3, backbone=backbones.DEFAULT):
    """Row 2: end-to-end prediction images/s over `whole_batches` of `train`, the way
    evaluation predicts."""
    model = measure.build(backbone)
    n = whole_batches(builder, batch)
    names = datasets.label_names(builder.info)

    def predict():
        with contextlib.redirect_stdout(io.StringIO()):  # its progress bar
            evaluate.predict_split(
                model=model, builder=builder, split=f"train[:{n}]", batch_size=batch,
                label_names=names,
            )  # fmt: skip

    return rate(n, timed(predict, repeats))


def frozen_head(builder, batch, backbone=backbones.DEFAULT, repeats=measure.REPEATS):
    """Row 3: cache fill, a head epoch on cached features, a head epoch through the backbone."""
    model = measure.build(backbone)
    n = builder.info.splits["train"].num_examples
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        x, y = feature_cache.split_features(
            classifier.feature_extractor(model),
            datasets.batches(builder, "train", batch_size=batch),
            datasets.num_batches(builder, "train", batch),
            pathlib.Path(tmp) / "f.npz",
        )
        fill = time.perf_counter() - start
    loss = keras.losses.BinaryCrossentropy(from_logits=True)
    head = classifier.head_model(model)
    head.compile(keras.optimizers.Adam(1e-3), loss)
    cached = timed(
        lambda: head.fit(feature_cache.ShuffledArrays(x, y, 256), epochs=1, verbose=0), repeats
    )
    model.compile(keras.optimizers.Adam(1e-3), loss)  # backbone frozen: the naive head epoch
    images = datasets.batches(builder, "train", batch_size=batch)
    naive = timed(lambda: model.fit(images, epochs=1, verbose=0), repeats=min(2, repeats))
    return {"images": n, "fill_seconds": fill, "cached_epoch": cached, "naive_epoch": naive}


def head_row(head):
    """Row 3 from `frozen_head`'s result: the naive head epoch's time over the cached one's."""
    return row(
        "3. head epoch: through the backbone / on cached features (time ratio)",
        head["naive_epoch"],
        head["cached_epoch"],
        goal=50,
        unit="s",
    )


def padding(n, batch) -> dict:
    """What the last batch's padding costs a pass of `n` images: prediction pads every
    call to `batch` rows, so the pass runs ceil(n / batch) full calls, and its rate can
    reach at most n / (calls x batch) of the forward limit (`padding_bound`)."""
    calls = -(-n // batch)
    bound = n / (calls * batch)
    return {
        "images": n,
        "padded_rows": calls * batch - n,
        "padding_bound": bound,
        "note": f"{n} images in {calls} calls of {batch}: the padding alone caps it at {bound:.3f}x",
    }


def data_rows(work, sizes, backbone, limit):
    """Rows 2 and 3 on a synthetic dataset; returns (rows, the pipeline rate, row 3's block)."""
    data = build_rows.synthetic_builder(work / "tfds", patients=sizes.patients)
    pipeline = pipeline_rate(data, BATCH, sizes.few_repeats)
    predict = predict_rate(data, BATCH, sizes.few_repeats, backbone)
    result = [
        row("2. cxr.data.datasets pipeline vs model forward", pipeline, limit, goal=5),
        {
            **row(
                "2. end-to-end predict (evaluate.predict_split) vs model forward",
                predict,
                limit,
                goal=0.9,
            ),
            **padding(whole_batches(data, BATCH), BATCH),
        },
    ]
    head = frozen_head(data, BATCH, backbone, sizes.repeats)
    return [*result, head_row(head)], pipeline, head
