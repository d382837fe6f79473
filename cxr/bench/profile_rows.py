"""`cxr bench --only profile`: the ratios still short, broken into their candidate causes,
each timed alone (bench/profile.json, with provenance).

- prediction against the forward rate (`profile_predict`), row 2's 0.9x;
- a training step against the forward rate (`profile_train`), row 4's 0.30x;
- a dataset build's serial part against its per-image part (`profile_build`), row 5's 1.8x.

Every profile row carries `ms_per_image`, so the stages of one section add up to (or
overlap within) the whole. Sized for under 3 minutes on 2 CPU cores at `--scale 1`;
below 1, a check that every stage runs (one repeat, a handful of images).
"""

import pathlib
import shutil
import tempfile
import time

from cxr.bench import build_rows, measure, plan, profile_build, profile_predict, profile_train

DEFAULT_OUT = "bench/profile.json"


def sizes(scale: float) -> dict:
    """Patients of the 224 px data (prediction, training's pipeline), of the 1024 px build,
    and timed repeats, at `scale`."""
    check = plan.Sizes.at(scale).is_check
    return {
        "patients": max(4, round(24 * scale)),  # a few batches: the padding not the whole pass
        "build_patients": max(2, round(8 * scale)),
        "repeats": 1 if check else 2,
    }


def profile(work, scale, backbone) -> tuple[list[dict], dict]:
    """Every profile row, prediction, training then build; and each section's seconds."""
    size = sizes(scale)
    seconds = {}
    start = time.perf_counter()
    data = build_rows.synthetic_builder(work / "tfds", patients=size["patients"])
    model = measure.build(backbone)
    rows = profile_predict.predict_profile(data, model, size["repeats"])
    seconds["predict"] = time.perf_counter() - start
    start = time.perf_counter()
    rows += profile_train.train_profile(data, backbone, size["repeats"])
    seconds["train"] = time.perf_counter() - start
    start = time.perf_counter()
    rows += profile_build.build_profile(work, size["build_patients"], size["repeats"])
    seconds["build"] = time.perf_counter() - start
    return rows, seconds


def run_alone(args, argv, *, header, write):
    """`cxr bench --only profile`: the profile rows of `--backbone`, written to `args.out`."""
    backbone = plan.check_backbone(args.backbone)
    check = plan.Sizes.at(args.scale).is_check
    work = pathlib.Path(tempfile.mkdtemp(prefix="cxr_profile_"))
    start = time.perf_counter()
    try:
        with measure.no_warm_ups(check):
            rows, seconds = profile(work, args.scale, backbone)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results = {
        **header,
        "scale": args.scale,
        "backbone": backbone,
        "sizes": sizes(args.scale),
        "rows": rows,
        "seconds": seconds,
        "total_seconds": time.perf_counter() - start,
    }
    write(results, args.out)
    return results
