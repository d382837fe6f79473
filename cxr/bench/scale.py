"""`make bench-scale`: time and peak memory of every stage against the number of images.

    python -m cxr.bench.scale [--sizes 1500,15000,112120] [--out bench/scale.json]
                              [--image-size 32] [--sample-dir ../shared/cxr14]
                              [--stages build,pipeline,features,head,evaluate]

For each size N it writes a `cxr14_subset`-shaped manual dir of N images (NIH's own
metadata restricted to the first N images of one fixed patient order, or synthetic
metadata without a copy; tiny noise PNGs), then measures, each stage in a fresh
process (`cxr.bench.scale_stages`): the build, one pipeline pass over train, the
feature-cache pass over train, one head epoch, and the evaluation of test
(patient bootstrap, galleries, localization) with a random-init model.

Per stage it fits k in time ~ N^k (least squares on logs; goal k <= 1.05) and the
memory slope in bytes per image, beside the slope expected from the per-image
arrays the stage holds by design (features, scores, labels). Writing the data is
timed too, but is not a stage. 9.7 minutes on a 2-core Xeon at the default sizes
(2026-11-27; README, "The whole dataset").
"""

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

from cxr.bench import provenance, scale_data
from cxr.bench.provenance import machine
from cxr.bench.scale_report import STAGES, markdown, summarize
from cxr.bench.scale_stages import MARKER
from cxr.errors import UserError, exits_cleanly


def stage_options(*, image_size: int) -> list[str]:
    """The command-line options every stage process gets."""
    return ["--image-size", str(image_size)]


def run_stage(stage, *, options, data_dir=None, manual_dir=None, work=None) -> dict:
    """Runs one stage in a fresh process; returns what it printed after `MARKER`.

    Args:
        stage: a name of `bench_scale_stages.STAGES`.
        options: from `stage_options`.
        data_dir, manual_dir, work: the TFDS data dir, the NIH files, a scratch dir.
    """
    command = [sys.executable, "-m", "cxr.bench.scale_stages", stage, *options]
    for flag, path in (("--data-dir", data_dir), ("--manual-dir", manual_dir), ("--work", work)):
        if path is not None:
            command += [flag, str(path)]
    env = {**os.environ, "WANDB_MODE": "disabled", "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(MARKER)]
    if proc.returncode or not lines:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise RuntimeError(f"stage {stage} failed (exit {proc.returncode}):\n{tail}")
    return json.loads(lines[-1][len(MARKER) :])


def measure_size(meta, order, n, *, work, image_size, options, stages=STAGES) -> dict:
    """Writes the data of `n` images and runs `stages` on it, in order; returns the figures."""
    root = pathlib.Path(work) / f"n{n}"
    manual, data_dir = root / "manual", root / "tfds"
    start = time.perf_counter()
    facts = scale_data.write_manual_dir(
        meta, scale_data.select_images(meta, n, order), manual, png_size=image_size
    )
    out = {"n": n, "data": {**facts, "write_seconds": time.perf_counter() - start}, "stages": {}}
    for stage in stages:
        print(f"  N={n:,}: {stage} ...", end=" ", flush=True)
        result = run_stage(stage, options=options, data_dir=data_dir, manual_dir=manual, work=root)
        print(f"{result['seconds']:.1f} s, peak {result['peak_mb']:.0f} MB", flush=True)
        out["stages"][stage] = result
    out["splits"] = out["stages"]["build"].get("splits", {})
    shutil.rmtree(root, ignore_errors=True)  # 112k PNGs and records: free the disk
    return out


def run(
    *,
    sizes,
    image_size=32,
    sample_dir=None,
    out="bench/scale.json",
    work=None,
    stages=STAGES,
    argv=None,
) -> dict:
    """Measures `stages` at every size and writes `out`; returns the results.

    Args:
        sizes: numbers of images.
        image_size: side of the PNGs and of the built images; DenseNet121 needs >= 32.
        sample_dir: NIH's metadata files; synthetic metadata when None or absent.
        out: the JSON file written.
        work: where the data goes (each size's is removed after it); None: a temporary dir.
        stages: a subset of `STAGES`, run in `STAGES` order (`build` is always run: every
            stage reads its data; `head` needs `features`).
        argv: the command line recorded in `provenance`; None: this process's.

    Raises:
        UserError: for no size, an unknown stage, or `head` without `features`.
    """
    sizes = sorted(sizes)
    if not sizes:
        raise UserError("--sizes: give at least one number of images, e.g. 1500,15000")
    if unknown := sorted(set(stages) - set(STAGES)):
        raise UserError(f"--stages {','.join(unknown)}: unknown; use some of {','.join(STAGES)}")
    stages = [s for s in STAGES if s in set(stages) | {"build"}]
    if "head" in stages and "features" not in stages:
        raise UserError(
            "--stages: the head stage trains on the features stage's cache: add features"
        )
    meta = scale_data.load_metadata(sample_dir, max_images=sizes[-1])
    results = {
        "provenance": provenance.collect(argv),
        "machine": machine(),
        "image_size": image_size,
        "metadata": meta.source,
        "stages": stages,
        "sizes": [],
    }
    start = time.perf_counter()
    results["idle"], results["sizes"] = measure_sizes(
        meta, sizes, work=work, image_size=image_size, stages=stages
    )
    results["total_seconds"] = time.perf_counter() - start
    results["summary"] = summarize(results["sizes"], results["idle"]["peak_mb"], stages)
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return results


def measure_sizes(meta, sizes, *, work, image_size, stages) -> tuple[dict, list[dict]]:
    """The idle process's figures, then `measure_size`'s at each size, in order.

    Args:
        meta: NIH's metadata (`scale_data.load_metadata`), for the largest size.
        sizes: numbers of images, increasing.
        work: where the data goes; None: a temporary dir, removed at the end.
        image_size, stages: as `run` takes them.
    """
    order = scale_data.patient_order(meta)
    owned = work is None
    work = pathlib.Path(work or tempfile.mkdtemp(prefix="cxr_bench_scale_"))
    options = stage_options(image_size=image_size)
    try:
        idle = run_stage("idle", options=options)
        print(f"Idle process (the imports): {idle['peak_mb']:.0f} MB", flush=True)
        measured = [
            measure_size(
                meta, order, n, work=work, image_size=image_size, options=options, stages=stages
            )
            for n in sizes
        ]
    finally:
        if owned:
            shutil.rmtree(work, ignore_errors=True)
    return idle, measured


@exits_cleanly
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1500,15000,112120", help="numbers of images, commas")
    parser.add_argument(
        "--image-size", type=int, default=32, help="pixels; DenseNet121 needs >= 32"
    )
    parser.add_argument(
        "--sample-dir",
        default=os.environ.get("CXR14_SAMPLE_DIR", "../shared/cxr14"),
        help="NIH's metadata files; synthetic metadata when absent",
    )
    parser.add_argument("--out", default="bench/scale.json")
    parser.add_argument("--work", help="where the data is written (default: a temporary dir)")
    parser.add_argument(
        "--stages", default=",".join(STAGES), help="a subset of the stages, commas (build always)"
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    results = run(
        sizes=sizes,
        image_size=args.image_size,
        sample_dir=args.sample_dir,
        out=args.out,
        work=args.work,
        stages=[s.strip() for s in args.stages.split(",") if s.strip()],
        argv=argv,
    )
    print(markdown(results))
    print(f"Written: {args.out}")
