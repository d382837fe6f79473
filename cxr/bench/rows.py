"""`make bench`: where time goes, measured side by side in one run.

    cxr bench [--scale 1] [--backbone densenet121] [--backbones a,b|none]
              [--out bench/results.json] [--only saliency] [--epoch_row]
    cxr bench --only profile [--scale 1]       (bench/profile.json: the short ratios' causes)
    cxr bench --compare OLD.json NEW.json

Rows (each a ratio of two figures measured in this run, each figure the median of
several repeats after a warm-up, with min and max); rows 1-4, 6 and 8 run on
`--backbone` (default DenseNet121):
1. model limit: forward images/s on in-memory tensors, per batch size, plus XLA
   (`jit_compile`) and mixed precision (bf16 on CPU, fp16 on GPU);
2. pipeline vs model: `cxr.data.datasets` alone, and end-to-end prediction, against row 1;
3. frozen head: a head epoch on cached features against one through the backbone;
4. fine-tuning: training images/s against row 1's forward rate, plain/XLA/mixed;
5. dataset build: parallel against single-worker `cxr14_subset` builds (`build_rows`);
6. GPU fine-tuning epoch: training images/s with the settings `cxr.runtime.speed` picks, against
   the 1,900 images/s that one epoch over the official train+validation images
   (86,524) in 45 s needs. GPU only; `--epoch_row` measures it on a CPU too;
7. scoring: `cxr score` and `cxr readers` on NIH's test list against 10 s (`score_rows`);
8. saliency cost: seconds per map of each saliency method against one forward pass per
   image (`saliency_rows`); `--only saliency` measures it alone, into its own file;
9. per backbone: forward and training images/s, parameters, Grad-CAM grid (`backbone_rows`);
10. cold start: every subcommand's `--help` and argument error in a fresh process against
   2 s, and a cold `cxr score` of NIH's test list against 10 s (`startup_rows`).
The file's `provenance` block (`cxr.bench.provenance`) names the command, the commit,
the date, the machine and the package versions. Sizes (`cxr.bench.plan`) aim at about
10 minutes on 2 CPU cores for rows 1-8; `--scale` multiplies them for a GPU, and a scale
below 1 runs every row once on a few images (a check, not a measurement).
"""

import contextlib
import json
import pathlib
import shutil
import tempfile
import time

import tensorflow as tf

from cxr.bench import (
    backbone_rows,
    build_rows,
    data_rows,
    epoch_rows,
    measure,
    model_rows,
    options,
    plan,
    profile_rows,
    saliency_rows,
    score_rows,
    startup_rows,
)
from cxr.bench import compare as compare_files
from cxr.bench import provenance as provenance_lib
from cxr.bench.measure import rate, row, timed, with_policy  # noqa: F401  (the rows' tools)
from cxr.bench.provenance import machine  # noqa: F401  (re-exported: tests, scale)
from cxr.errors import exits_cleanly
from cxr.model import backbones
from cxr.runtime import speed

BATCH = 32  # row 1's reference batch, rows 2-3's batch


def score_bench_rows(work, sample_dir, resamples=1000, repeats=3):
    """Row 7: `cxr score` and `cxr readers` against "finishes in seconds"."""
    nih_dir = score_rows.nih_dir_for_bench(sample_dir, work) if sample_dir else None
    if nih_dir is None:
        print("7. scoring: skipped, no NIH metadata with Google's expert folder beside it")
        return []
    n, nih, experts = score_rows.score_seconds(
        nih_dir, work / "score", timed=timed, repeats=repeats, resamples=resamples
    )
    goal = {k: n / score_rows.GOAL_SECONDS for k in ("median", "min", "max")}
    within = f"{resamples:,} resamples, vs all in {score_rows.GOAL_SECONDS} s"
    return [
        row(f"7. cxr score, {n:,} test predictions, {within}", rate(n, nih), goal, goal=1),
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
    if model is None:
        model = measure.build()
    forward, maps = saliency_rows.map_seconds(model, timed=timed, **options)
    names = saliency_rows.row_names(maps, options.get("batch_size", saliency_rows.BATCH))
    return [row(names[m], seconds, forward, unit="s") for m, (_, seconds) in maps.items()]


def saliency_images(sizes):
    """Row 8's images per method at `sizes` (at least one each)."""
    return {
        m: max(1, round(n * sizes.saliency_images))
        for m, n in saliency_rows.images_per_repeat().items()
    }


def measure_rows(
    work, sizes, *, backbone, names, sample_dir, choice, epoch, seconds, epoch_names, host=True
):
    """Every row, in order; returns (rows, row 3's block). `seconds` gets each row's time.

    `epoch_names`: row 6's backbones; `host`: False leaves out the rows that run on the
    host's CPU alone (5, 7, 10), as `--only gpu` does.
    """
    gpu = bool(tf.config.list_physical_devices("GPU"))
    mixed = "mixed_float16" if gpu else "mixed_bfloat16"
    clock = Clock(seconds)
    with clock(f"1. model limit ({backbone})"):
        on = {"backbone": backbone, "repeats": sizes.repeats}
        limit = {b: measure.forward_rate(b, **on) for b in (1, 8, BATCH)}
        rows = model_rows.model_rows(limit, BATCH, mixed, backbone, sizes.repeats)
    with clock("2-3. pipeline vs model, frozen head"):
        more, pipeline, head = data_rows.data_rows(work, sizes, backbone, limit[BATCH])
        rows += more
    with clock("4. fine-tuning"):
        rows += model_rows.training_rows(limit[BATCH], mixed, backbone, sizes.few_repeats)
    if host:
        with clock("5. dataset build"):
            rows += build_rows.build_rows(work, sizes, sample_dir)
        with clock("7. scoring a predictions CSV"):
            rows += score_bench_rows(work, sample_dir, sizes.resamples, sizes.few_repeats)
    with clock("8. saliency cost"):
        model = measure.build(backbone)
        rows += saliency_bench_rows(model, images=saliency_images(sizes), repeats=sizes.few_repeats)
    for name in epoch_names:
        with clock(f"6. fine-tuning epoch ({name})"):
            on_gpu = choice if (gpu or epoch) else None
            rows += epoch_rows.gpu_epoch_rows(on_gpu, sizes, name, pipeline, gpu)
    if host:
        with clock("10. cold start"):
            rows += startup_rows.startup_rows(work, sizes, sample_dir)
    for name in names:
        with clock(f"9. {name}"):
            rows += backbone_rows.backbone_rows(
                name, choice, limit[BATCH], repeats=sizes.few_repeats
            )
    return rows, head


class Clock:
    """`with clock(name):` prints `name`, then records the block's seconds in `seconds[name]`."""

    def __init__(self, seconds: dict):
        self.seconds = seconds

    @contextlib.contextmanager
    def __call__(self, name):
        print(name, flush=True)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = time.perf_counter() - start


def run(
    scale=1,
    sample_dir=None,
    out="bench/results.json",
    force_epoch_row=False,
    *,
    backbone=backbones.DEFAULT,
    backbones_row9=None,
    choice=None,
    argv=None,
    epoch_backbones=None,
    host=True,
):
    """Measures every row and writes `out`; returns the results.

    Args:
        scale: `--scale` (`cxr.bench.plan.Sizes.at`).
        sample_dir: NIH's files for rows 5 and 7; None: those rows use synthetic data only.
        out: the results file.
        force_epoch_row: measure row 6 without a GPU.
        backbone: the network of rows 1-4, 6 and 8.
        backbones_row9: row 9's backbones (`--backbones`'s value: "a,b", "none", None).
        choice: the `cxr.runtime.speed.Choice` of rows 6 and 9; None: what "auto" picks.
        argv: the command line recorded in `provenance`; None: this process's.
        epoch_backbones: row 6's backbones (`--epoch_backbones`: "a,b", "all"); None: `backbone`.
        host: False: only the rows that use an accelerator (`--only gpu`: not 5, 7, 10).
    """
    sizes = plan.Sizes.at(scale)
    backbone = plan.check_backbone(backbone)
    names = plan.row9_backbones(backbones_row9)
    epoch_names = plan.epoch_backbones(epoch_backbones, backbone)
    results = {"provenance": provenance_lib.collect(argv), "machine": machine(), "scale": scale}
    # Chosen first: a probe needs GPU memory that TensorFlow holds once used.
    choice = choice or speed.choose()
    results["settings"] = {"precision": choice.precision, "xla": choice.xla, "why": choice.why}
    results["seconds"] = {}  # each row's time: how long a run takes, and where
    work = pathlib.Path(tempfile.mkdtemp(prefix="cxr_bench_"))
    start = time.perf_counter()
    try:
        with measure.no_warm_ups(sizes.is_check):
            results["rows"], results["frozen_head"] = measure_rows(
                work, sizes, backbone=backbone, names=names, sample_dir=sample_dir,
                choice=choice, epoch=force_epoch_row, seconds=results["seconds"],
                epoch_names=epoch_names, host=host,
            )  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["total_seconds"] = time.perf_counter() - start
    write(results, out)
    return results


def write(results, out):
    """Writes `results` as JSON to `out`, making its folder."""
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


def header(argv) -> dict:
    """The provenance and machine facts every results file starts with."""
    return {"provenance": provenance_lib.collect(argv), "machine": machine()}


def run_saliency_alone(out, backbone=backbones.DEFAULT, argv=None):
    """`--only saliency`: row 8 alone, written to `out` unless it holds other rows."""
    saliency_rows.check_alone_out(out)
    results = {
        **header(argv),
        "scale": 1,
        "rows": saliency_bench_rows(measure.build(plan.check_backbone(backbone))),
    }
    write(results, out)
    return results


def markdown(results) -> str:
    """The results as a Markdown table (row 9 once more, one line per backbone)."""
    m = results["machine"]
    p = results.get("provenance", {})
    dirty = " (with uncommitted changes)" if p.get("dirty") else ""
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, GPU: {', '.join(m['gpus']) or 'none'}; "
        f"Keras {m['keras']} ({m['backend']}), TensorFlow {m['tensorflow']}; {m['date']}",
        *([f"Command: {p['command']}; commit {p.get('commit')}{dirty}"] if p else []),
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
        note = f" ({r['note']})" if r.get("note") else ""
        lines.append(
            f"| {r['row']}{note} | {f['median']:.3g} [{f['min']:.3g}, {f['max']:.3g}] {r['unit']} "
            f"| {b['median']:.3g} {r['unit']} | {r['ratio']:.2f}x | {goal} |"
        )
    per_backbone = backbone_rows.table(results["rows"])
    return "\n".join(lines + (["", per_backbone] if per_backbone else []))


@exits_cleanly
def main(argv=None):
    """`cxr bench`: measures and prints the table, or `--compare`s two results files."""
    args = options.parser().parse_args(argv)
    if args.compare:
        print(compare_files.main(*args.compare))
        return
    if args.only == "profile":
        args.out = args.out or profile_rows.DEFAULT_OUT
        results = profile_rows.run_alone(args, argv, header=header(argv), write=write)
    elif args.only == "backbones":
        args.out = args.out or "bench/backbones.json"
        results = backbone_rows.run_alone(args, argv, header=header(argv), write=write)
    elif args.only == "saliency":
        args.out = args.out or "bench/saliency.json"
        results = run_saliency_alone(args.out, args.backbone, argv)
    else:  # every row, or with `--only gpu` those that use an accelerator
        gpu_only = args.only == "gpu"
        args.out = args.out or ("bench/results_gpu.json" if gpu_only else "bench/results.json")
        if gpu_only and not tf.config.list_physical_devices("GPU"):
            print("--only gpu: no GPU here; the rows run on the CPU (row 6 with --epoch_row)")
        results = run(
            args.scale, args.sample_dir, args.out, force_epoch_row=args.epoch_row,
            backbone=args.backbone, backbones_row9=args.backbones, argv=argv,
            epoch_backbones=args.epoch_backbones, host=not gpu_only,
        )  # fmt: skip
    print(markdown(results))
    print(f"Written: {args.out}")
