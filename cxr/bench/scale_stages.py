"""The stages `cxr.bench.scale` measures, each alone in a fresh process.

    python -m cxr.bench.scale_stages STAGE --data-dir D --manual-dir M --work W --image-size S

STAGE is `idle` (the imports only: the baseline), `build`, `pipeline`, `features`,
`head` or `evaluate`. The process prints one line `BENCH_SCALE <json>` with the
stage's wall `seconds` (setup such as building the model excluded), `rss_before_mb`
(resident memory when the timed part starts) and `peak_mb` (the process's peak
resident memory, VmHWM, over its whole life), plus stage-specific counts.
One process per stage, so no stage's peak hides behind another's.
"""

import argparse
import json
import pathlib
import time

import keras
import numpy as np
import tensorflow_datasets as tfds

from cxr.configs import common
from cxr.data import datasets
from cxr.model import classifier
from cxr.pipeline import evaluate, wiring
from cxr.tracking.rundir import EvalDir, RunDir
from cxr.train import feature_cache, loop, phases
from cxr_tfds.cxr14_subset import cxr14_subset_dataset_builder as builder_lib

MARKER = "BENCH_SCALE "
# The experiments' defaults (experiments/common.py): batch sizes, bootstrap, galleries.
DEFAULTS = common.get_config().to_dict()
BATCH = DEFAULTS["data"]["batch_size"]  # images per batch
HEAD_BATCH = DEFAULTS["train"]["head_batch_size"]  # feature vectors per batch


def _status_mb(key: str) -> float:
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb() -> float:
    """Resident memory of this process now, in MB."""
    return _status_mb("VmRSS")


def peak_mb() -> float:
    """Peak resident memory of this process so far, in MB.

    VmHWM, not `ru_maxrss`: Linux carries the parent's peak over into a spawned child's
    `ru_maxrss` (the old address space's high-water mark is kept at exec), so a child of
    a process that imported TensorFlow would report at least the parent's peak.
    """
    return _status_mb("VmHWM")


def builder(data_dir, image_size):
    """The `cxr14_subset` builder of the bench's config, in `data_dir`."""
    config = builder_lib.Cxr14SubsetConfig(
        name=f"scale_{image_size}", description="cxr.bench.scale", image_size=image_size
    )
    return tfds.builder("cxr14_subset", config=config, data_dir=str(data_dir))


def _timed(fn):
    before = rss_mb()
    start = time.perf_counter()
    extra = fn() or {}
    return {"seconds": time.perf_counter() - start, "rss_before_mb": before, **extra}


def stage_build(args):
    b = builder(args.data_dir, args.image_size)
    config = tfds.download.DownloadConfig(manual_dir=str(args.manual_dir))

    def build():
        b.download_and_prepare(download_config=config)
        return {"splits": {name: s.num_examples for name, s in b.info.splits.items()}}

    return _timed(build)


def stage_pipeline(args):
    b = builder(args.data_dir, args.image_size)

    def one_pass():
        n = sum(len(labels) for _, labels in datasets.batches(b, "train", batch_size=BATCH))
        return {"images": n}

    return _timed(one_pass)


def _feature_file(args, split):
    return pathlib.Path(args.work) / "features" / f"{split}.npz"


def stage_features(args):
    """`feature_cache.split_features` over train, timed; then validation for the head stage."""
    b = builder(args.data_dir, args.image_size)
    extractor = classifier.feature_extractor(_model(args.image_size))

    def fill(split):
        x, _ = feature_cache.split_features(
            extractor,
            datasets.batches(b, split, batch_size=BATCH),
            datasets.num_batches(b, split, BATCH),
            _feature_file(args, split),
        )
        return {"images": len(x)}

    result = _timed(lambda: fill("train"))
    start = time.perf_counter()
    fill("validation")  # untimed: only so the head epoch can validate as training does
    return {**result, "validation_seconds": time.perf_counter() - start}


def stage_head(args):
    """One head epoch through `loop.fit_phase`, on the cached features."""
    b = builder(args.data_dir, args.image_size)
    model = _model(args.image_size)
    with np.load(_feature_file(args, "train")) as f:
        x, y = f["features"], f["labels"]
    with np.load(_feature_file(args, "validation")) as f:
        val_x, val_y = f["features"], f["labels"]
    run = RunDir(pathlib.Path(args.work) / "run").create({"bench": "scale"})
    phase = phases.Phase(
        "head", epochs=1, learning_rate=1e-3, lr_patience=1, stop_patience=3, batch_size=HEAD_BATCH
    )

    def epoch():
        history = loop.fit_phase(
            classifier.head_model(model),
            feature_cache.ShuffledArrays(x, y, phase.batch_size),
            val_x,
            val_y,
            run=run,
            phase=phase,
            label_names=datasets.label_names(b.info),
            best_model=model,
        )
        return {"epoch_seconds": history.history["epoch_seconds"][0], "images": len(x)}

    return _timed(epoch)


def stage_evaluate(args):
    """`evaluate.evaluate` on test with the default evaluators, and where its time goes."""
    b = builder(args.data_dir, args.image_size)
    model = _model(args.image_size)
    chosen, _ = wiring.evaluation_setup(DEFAULTS)  # the evaluators of a default run
    parts = {}  # part -> seconds, from timers wrapped around evaluate's steps

    def timer(name, fn):
        def wrapped(*a, **k):
            start = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                parts[name] = parts.get(name, 0.0) + time.perf_counter() - start

        return wrapped

    # Patched in this throwaway process only, to split the stage's time into its steps.
    evaluate.predict_split = timer("predict (test + validation)", evaluate.predict_split)
    if hasattr(evaluate, "_gradcam_pairs"):
        evaluate._gradcam_pairs = timer("grad-cam", evaluate._gradcam_pairs)
    for e in chosen:
        e.result = timer(type(e).__name__.lower(), e.result)

    def run():
        preds = evaluate.evaluate(
            model=model,
            builder=b,
            split="test",
            val_split="validation",
            eval_dir=EvalDir(pathlib.Path(args.work) / "eval"),
            evaluators=chosen,
            batch_size=BATCH,
        )
        boxes = sum(len(getattr(e, "box_labels", [])) for e in chosen)
        return {
            "images": len(preds.labels),
            "patients": len(set(preds.patient_id.tolist())),
            "boxes": boxes,
        }

    result = _timed(run)
    parts["other (writing files)"] = result["seconds"] - sum(parts.values())
    return {**result, "parts": parts}


def _model(image_size):
    keras.utils.set_random_seed(0)
    return classifier.build_model(image_size=image_size, weights=None)


STAGES = {
    "idle": lambda args: {"seconds": 0.0, "rss_before_mb": rss_mb()},
    "build": stage_build,
    "pipeline": stage_pipeline,
    "features": stage_features,
    "head": stage_head,
    "evaluate": stage_evaluate,
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument("--data-dir", type=pathlib.Path)
    parser.add_argument("--manual-dir", type=pathlib.Path)
    parser.add_argument("--work", type=pathlib.Path)
    parser.add_argument("--image-size", type=int, default=32)
    args = parser.parse_args(argv)
    result = STAGES[args.stage](args)
    result["peak_mb"] = peak_mb()
    print(MARKER + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
