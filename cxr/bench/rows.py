"""`make bench`: where time goes, measured side by side in one run.

    cxr bench [--scale 4] [--out bench/results.json] [--only saliency]

Rows (each a ratio of two figures measured in this run, each figure the median of
several repeats after a warm-up, with min and max):
1. model limit: DenseNet121 forward images/s on in-memory tensors, per batch size,
   plus XLA (`jit_compile`) and mixed precision (bf16 on CPU, fp16 on GPU);
2. pipeline vs model: `cxr.data.datasets` alone, and end-to-end prediction, against row 1;
3. frozen head: a head epoch on cached features against one through the backbone;
4. fine-tuning: training images/s against row 1's forward rate, plain/XLA/mixed;
5. dataset build: parallel against single-worker `cxr14_subset` builds;
6. GPU fine-tuning epoch: training images/s with the settings `cxr.runtime.speed` picks, against
   the 1,900 images/s that one epoch over the official train+validation images
   (86,524) in 45 s needs. GPU only; `--epoch_row` measures it on a CPU too;
7. scoring: `cxr score` and `cxr readers` on NIH's test list against 10 s (`score_rows`);
8. saliency cost: seconds per map of each saliency method against one forward pass per
   image (`saliency_rows`); `--only saliency` measures it alone, into its own file.
Sizes aim at about 10 minutes on 2 CPU cores, and 2 more for row 8; `--scale` multiplies
them for a GPU.
"""

import argparse
import contextlib
import io
import json
import os
import pathlib
import platform
import statistics
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from cxr.bench import saliency_rows, score_rows
from cxr.data import datasets
from cxr.errors import exits_cleanly
from cxr.model import classifier
from cxr.pipeline import evaluate
from cxr.runtime import machine as host
from cxr.runtime import speed
from cxr.train import feature_cache
from cxr_tfds.cxr14_subset import cxr14_subset_dataset_builder as builder_lib
from cxr_tfds.cxr14_subset import images

SIZE = 224  # the resolution of every row
REPEATS = 5  # timed repeats per figure, after one warm-up
EPOCH_IMAGES = 86_524  # NIH's official train+validation list (train_val_list.txt)
EPOCH_SECONDS_GOAL = 45  # one fine-tuning epoch on one H100


def timed(fn, repeats=REPEATS, warm_up=None):
    """Runs `warm_up` (default fn) once, then fn `repeats` times; seconds (median, min, max)."""
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


def machine():
    """What the figures were measured on (CPU, cores and GPUs as `cxr.runtime.machine` has them)."""
    return {
        "cpu": host.cpu_name(),
        "cores": host.cores(),
        "gpus": host.accelerators(),
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "tfds": tfds.__version__,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }


def with_policy(policy, fn):
    """Runs fn under a Keras dtype policy, then restores float32."""
    keras.mixed_precision.set_global_policy(policy)
    try:
        return fn()
    finally:
        keras.mixed_precision.set_global_policy("float32")


def forward_rate(batch, jit=False, policy="float32", repeats=REPEATS):
    """Row 1: forward images/s of DenseNet121 on a random in-memory batch."""

    def measure():
        model = classifier.build_model(image_size=SIZE)
        fn = tf.function(model, jit_compile=True) if jit else tf.function(model)
        x = tf.random.normal((batch, SIZE, SIZE, 3))
        return rate(batch, timed(lambda: fn(x, training=False).numpy(), repeats))

    return with_policy(policy, measure)


def train_rate(batch, jit=False, policy="float32", repeats=3):
    """Row 4: training images/s (forward and backward, all layers trainable)."""

    def measure():
        model = classifier.build_model(image_size=SIZE, trainable="all")
        model.compile(
            keras.optimizers.Adam(1e-4),
            keras.losses.BinaryCrossentropy(from_logits=True),
            jit_compile=jit,
        )
        x = np.random.normal(size=(batch, SIZE, SIZE, 3)).astype("float32")
        y = (np.random.random((batch, 14)) < 0.1).astype("float32")
        return rate(batch, timed(lambda: model.train_on_batch(x, y), repeats))

    return with_policy(policy, measure)


def synthetic_builder(data_dir, patients, png_size=256, image_size=SIZE):
    """A synthetic `cxr14_subset` at `image_size`, from `png_size` PNGs, built in `data_dir`."""
    config = builder_lib.Cxr14SubsetConfig(
        name=f"bench_p{patients}_{png_size}px_{image_size}",
        image_size=image_size,
        synthetic_patients=patients,
        synthetic_png_size=png_size,
    )
    builder = tfds.builder("cxr14_subset", config=config, data_dir=str(data_dir))
    builder.download_and_prepare()
    return builder


def pipeline_rate(builder, batch, repeats=3):
    """Row 2: images/s of `cxr.data.datasets` alone (decode, preprocess, batch), one pass over `train`."""
    n = builder.info.splits["train"].num_examples
    ds = datasets.batches(builder, "train", batch_size=batch)
    return rate(n, timed(lambda: [None for _ in ds], repeats))


def predict_rate(builder, batch, repeats=3):
    """Row 2: end-to-end prediction images/s over `train`, the way evaluation predicts."""
    model = classifier.build_model(image_size=SIZE)
    n = builder.info.splits["train"].num_examples
    names = datasets.label_names(builder.info)

    def predict():
        with contextlib.redirect_stdout(io.StringIO()):  # its progress bar
            evaluate.predict_split(
                model=model, builder=builder, split="train", batch_size=batch, label_names=names
            )

    return rate(n, timed(predict, repeats))


def epoch_rate(choice, *, batch, steps, make_model=None, repeats=3):
    """Row 6: fine-tuning images/s under `choice` (a `cxr.runtime.speed.Choice`), as `fit` trains.

    Args:
        choice: the precision and XLA to train with.
        batch: images per step.
        steps: steps per timed repeat.
        make_model: `() -> model` (logits out, 14 labels); None: DenseNet121, all trainable.
        repeats: timed repeats after a warm-up.
    """

    def measure():
        model = (make_model or (lambda: classifier.build_model(image_size=SIZE, trainable="all")))()
        model.compile(
            keras.optimizers.Adam(1e-4),
            keras.losses.BinaryCrossentropy(from_logits=True),
            jit_compile=choice.xla,
        )
        side = model.input.shape[1]
        x = tf.random.normal((batch, side, side, 3))
        y = tf.cast(tf.random.uniform((batch, 14)) < 0.1, tf.float32)
        images = tf.data.Dataset.from_tensors((x, y)).repeat()

        def epoch():
            model.fit(images, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)

        return rate(batch * steps, timed(epoch, repeats))

    return with_policy(choice.precision, measure)


def epoch_row(choice, train, pipeline, batch):
    """Row 6 from the training and pipeline rates: the epoch takes the slower one's time."""
    goal_rate = EPOCH_IMAGES / EPOCH_SECONDS_GOAL
    seconds = EPOCH_IMAGES / min(train["median"], pipeline["median"])
    settings = f"{choice.precision}, XLA {'on' if choice.xla else 'off'}"
    result = row(
        f"6. fine-tuning (batch {batch}, {settings}) vs the {goal_rate:,.0f} images/s of "
        f"one {EPOCH_IMAGES:,}-image epoch in {EPOCH_SECONDS_GOAL} s: {seconds:,.0f} s",
        train,
        {"median": goal_rate, "min": goal_rate, "max": goal_rate},
        goal=1.0,
    )
    return {**result, "epoch_seconds": seconds, "pipeline": pipeline}


def frozen_head(builder, batch):
    """Row 3: cache fill, a head epoch on cached features, a head epoch through the backbone."""
    model = classifier.build_model(image_size=SIZE)
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
    cached = timed(lambda: head.fit(feature_cache.ShuffledArrays(x, y, 256), epochs=1, verbose=0))
    model.compile(keras.optimizers.Adam(1e-3), loss)  # backbone frozen: the naive head epoch
    images = datasets.batches(builder, "train", batch_size=batch)
    naive = timed(lambda: model.fit(images, epochs=1, verbose=0), repeats=2)
    return {"images": n, "fill_seconds": fill, "cached_epoch": cached, "naive_epoch": naive}


def build_rate(make, n, workers):
    """Row 5: images/s of whole builds (`make()` builds afresh) with `workers` decode threads."""
    os.environ[images.WORKERS_ENV_VAR] = str(workers)
    try:
        return rate(n, timed(make, repeats=2))
    finally:
        del os.environ[images.WORKERS_ENV_VAR]


def fresh_build(manual_dir, config_name="224"):
    """A function that builds `config_name` from `manual_dir` into a new temporary data dir."""

    def make():
        with tempfile.TemporaryDirectory() as tmp:
            builder = tfds.builder(f"cxr14_subset/{config_name}", data_dir=tmp)
            builder.download_and_prepare(
                download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir))
            )

    return make


def score_bench_rows(work, sample_dir):
    """Row 7: `cxr score` and `cxr readers` against "finishes in seconds"."""
    nih_dir = score_rows.nih_dir_for_bench(sample_dir, work) if sample_dir else None
    if nih_dir is None:
        print("7. scoring: skipped, no NIH metadata with Google's expert folder beside it")
        return []
    n, nih, experts = score_rows.score_seconds(nih_dir, work / "score", timed=timed)
    goal = {k: n / score_rows.GOAL_SECONDS for k in ("median", "min", "max")}
    within = f"vs all in {score_rows.GOAL_SECONDS} s"
    return [
        row(
            f"7. cxr score, {n:,} test predictions, 1,000 resamples, {within}",
            rate(n, nih),
            goal,
            goal=1,
        ),
        row(
            f"7. cxr score + cxr readers (expert_all), the same CSV, {within}",
            rate(n, experts),
            goal,
            goal=1,
        ),
    ]


def saliency_bench_rows(model=None, **options):
    """Row 8: seconds per map of each method against one forward pass per image.

    Args:
        model: None: DenseNet121 at `SIZE`, random weights.
        **options: For `saliency_rows.map_seconds` (images, batch_size, repeats).
    """
    print("8. saliency cost", flush=True)
    if model is None:
        model = classifier.build_model(image_size=SIZE, weights=None)
    forward, maps = saliency_rows.map_seconds(model, timed=timed, **options)
    names = saliency_rows.row_names(maps, options.get("batch_size", saliency_rows.BATCH))
    return [row(names[m], seconds, forward, unit="s") for m, (_, seconds) in maps.items()]


def row(name, figure, baseline, *, goal=None, unit="images/s"):
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


def model_rows(limit, batch, mixed):
    """Row 1 from the forward rates `limit` ({batch: rate}): small batches, XLA, `mixed`."""
    return [
        *(row(f"1. forward, batch {b} vs batch {batch}", limit[b], limit[batch]) for b in (1, 8)),
        row("1. forward with XLA vs without", forward_rate(batch, jit=True), limit[batch]),
        row(f"1. forward {mixed} vs float32", forward_rate(batch, policy=mixed), limit[batch]),
    ]


def head_row(head):
    """Row 3 from `frozen_head`'s result: the naive head epoch's time over the cached one's."""
    return row(
        "3. head epoch: through the backbone / on cached features (time ratio)",
        head["naive_epoch"],
        head["cached_epoch"],
        goal=50,
        unit="s",
    )


def build_rows(work, scale, sample_dir):
    """Row 5: parallel against single-worker builds, of the real sample (if any) and synthetic PNGs."""
    result = []
    cores = host.cores()
    if sample_dir and pathlib.Path(sample_dir, "Data_Entry_2017_v2020.csv").exists():
        make, n = (
            fresh_build(sample_dir),
            len(list(pathlib.Path(sample_dir, "images").glob("*.png"))),
        )
        result.append(
            row(
                f"5. build of the real sample ({n} PNGs): {cores} threads vs 1",
                build_rate(make, n, cores),
                build_rate(make, n, 1),
            )
        )
    big = synthetic_builder(
        work / "tfds", patients=40 * scale, png_size=1024
    )  # generates the 1024 px PNGs once
    manual = next((work / "tfds" / "downloads").glob("cxr14_synthetic_p*_1024px"))
    n = sum(s.num_examples for s in big.info.splits.values())
    make = fresh_build(manual)
    result.append(
        row(
            f"5. build of {n} synthetic 1024 px PNGs: {cores} threads vs 1",
            build_rate(make, n, cores),
            build_rate(make, n, 1),
        )
    )
    return result


def run(scale=1, sample_dir=None, out="bench/results.json", force_epoch_row=False):
    """Measures every row and writes `out`; returns the results."""
    gpu = bool(tf.config.list_physical_devices("GPU"))
    batch = 32
    results = {"machine": machine(), "scale": scale, "rows": []}
    rows = results["rows"]
    work = pathlib.Path(tempfile.mkdtemp(prefix="cxr_bench_"))
    # Row 6's settings, chosen first: a probe needs GPU memory that TensorFlow holds once used.
    choice = speed.choose() if gpu or force_epoch_row else None
    mixed = "mixed_float16" if gpu else "mixed_bfloat16"
    print("1. model limit", flush=True)
    limit = {b: forward_rate(b) for b in (1, 8, batch)}
    rows += model_rows(limit, batch, mixed)

    print("2. pipeline vs model", flush=True)
    bench_data = synthetic_builder(work / "tfds", patients=100 * scale)
    pipeline = pipeline_rate(bench_data, batch)
    rows.append(
        row("2. cxr.data.datasets pipeline vs model forward", pipeline, limit[batch], goal=5)
    )
    rows.append(
        row(
            "2. end-to-end predict (evaluate.predict_split) vs model forward",
            predict_rate(bench_data, batch),
            limit[batch],
            goal=0.9,
        )
    )

    print("3. frozen head", flush=True)
    results["frozen_head"] = head = frozen_head(bench_data, batch)
    rows.append(head_row(head))

    print("4. fine-tuning", flush=True)
    b = 16
    plain = train_rate(b)
    rows.append(row(f"4. training (batch {b}) vs forward", plain, limit[batch]))
    rows.append(row("4. training with XLA vs without", train_rate(b, jit=True), plain))
    rows.append(row(f"4. training {mixed} vs float32", train_rate(b, policy=mixed), plain))

    print("5. dataset build", flush=True)
    rows += build_rows(work, scale, sample_dir)

    print("7. scoring a predictions CSV", flush=True)
    rows += score_bench_rows(work, sample_dir)

    rows += saliency_bench_rows()

    if choice:
        print("6. fine-tuning epoch", flush=True)
        b = 64 if gpu else 8  # per device, as a GPU run would use
        train_images = epoch_rate(choice, batch=b, steps=10 * scale)
        rows.append(epoch_row(choice, train_images, pipeline, b))
    else:
        print("6. fine-tuning epoch: skipped, no GPU (--epoch_row measures it anyway)")

    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    return results


def run_saliency_alone(out):
    """`--only saliency`: row 8 alone, written to `out` unless it holds other rows."""
    saliency_rows.check_alone_out(out)
    results = {"machine": machine(), "scale": 1, "rows": saliency_bench_rows()}
    pathlib.Path(out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(out).write_text(json.dumps(results, indent=2))
    return results


def markdown(results) -> str:
    """The results as a Markdown table."""
    m = results["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, GPU: {', '.join(m['gpus']) or 'none'}; "
        f"Keras {m['keras']} ({m['backend']}), TensorFlow {m['tensorflow']}; {m['date']}",
        "",
        "| row | figure (median [min, max]) | baseline | ratio | goal |",
        "|---|---|---|---|---|",
    ]
    for r in results["rows"]:
        f, b = r["figure"], r["baseline"]
        goal = (
            ""
            if r["goal"] is None
            else f"{'met' if r['meets_goal'] else 'MISSED'} (>= {r['goal']}x)"
        )
        lines.append(
            f"| {r['row']} | {f['median']:.3g} [{f['min']:.3g}, {f['max']:.3g}] {r['unit']} "
            f"| {b['median']:.3g} {r['unit']} | {r['ratio']:.2f}x | {goal} |"
        )
    return "\n".join(lines)


@exits_cleanly
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=1, help="multiplies the data sizes (GPU: 8)")
    parser.add_argument(
        "--sample_dir",
        default=os.environ.get("CXR14_SAMPLE_DIR", "../shared/cxr14"),
        help="real NIH files for row 5; skipped when absent",
    )
    parser.add_argument("--out", help="default bench/results.json; with --only bench/saliency.json")
    parser.add_argument("--only", choices=["saliency"], help="row 8 alone, never over other rows")
    parser.add_argument(
        "--epoch_row", action="store_true", help="measure row 6 (GPU epoch) without a GPU too"
    )
    args = parser.parse_args(argv)
    if args.only:
        args.out = args.out or "bench/saliency.json"
        results = run_saliency_alone(args.out)
    else:
        args.out = args.out or "bench/results.json"
        results = run(args.scale, args.sample_dir, args.out, force_epoch_row=args.epoch_row)
    print(markdown(results))
    print(f"Written: {args.out}")
