"""`cxr bench --only profile`, dataset build: the serial part of a `cxr14_subset` build
against its per-image part (row 5's goal: 2 threads >= 1.8x one), on synthetic 1024 px
PNGs (NIH's size) resized to 224 px.

Stages, each in images/s of this build (a once-per-build step's seconds spread over its
images), the ratio against the whole single-worker build:
- reading NIH's CSV (`metadata.read_data_entry`), once per build;
- reading the PNG files' bytes, one thread;
- the per-image work (`images.resize_png`: decode, resize, encode) on one thread, and
  on one thread per core through the builder's own `images.parallel_map`;
- whole builds with one worker and with one per core (row 5's figures);
- the rest: the single-worker build less the parts above, the builder's serial share
  (split plan, TFDS's example encoding, TFRecord writing, shuffling, metadata);
- Amdahl's bound: the rest and the reads serial, the per-image work at its parallel
  rate: the most that more decode threads can give this build.
"""

import time

from cxr.bench import build_rows
from cxr.bench.measure import rate, row, timed
from cxr.bench.plan import SIZE
from cxr.runtime import machine as host
from cxr_tfds.cxr14_subset import images, metadata, sources


def as_rate(n, seconds: float) -> dict:
    """A one-number rate of `n` images in `seconds`."""
    return {"median": n / seconds, "min": n / seconds, "max": n / seconds}


def stage_rates(manual_dir, n, repeats) -> dict:
    """{stage: images/s} of each part of a build of `manual_dir`'s `n` images."""
    pngs = sorted(sources.find_pngs(manual_dir).values())
    if len(pngs) != n:  # every rate is per image of the build: the same images
        raise RuntimeError(f"{manual_dir}: {len(pngs)} PNGs for a build of {n} images")
    data = [p.read_bytes() for p in pngs]
    cores = host.cores()

    def resize_all(workers):
        for _, _, error in images.parallel_map(
            lambda b: images.resize_png(b, SIZE), data, workers=workers
        ):
            if error is not None:
                raise error

    make = build_rows.fresh_build(manual_dir)
    csv = metadata.find_data_entry(manual_dir)
    return {
        "CSV read (metadata.read_data_entry)": rate(
            n, timed(lambda: metadata.read_data_entry(csv), repeats)
        ),
        "PNG bytes read, 1 thread": rate(n, timed(lambda: [p.read_bytes() for p in pngs], repeats)),
        "per image (decode, resize, encode), 1 thread": rate(
            n, timed(lambda: resize_all(1), repeats)
        ),
        f"per image, {cores} threads (images.parallel_map)": rate(
            n, timed(lambda: resize_all(cores), repeats)
        ),
        "whole build, 1 worker": build_rows.build_rate(make, n, 1, repeats),
        f"whole build, {cores} workers": build_rows.build_rate(make, n, cores, repeats),
    }


def derived(rates: dict, n: int) -> dict:
    """The rest of a single-worker build and Amdahl's bound (module docstring)."""
    names = list(rates)
    seconds = {name: n / r["median"] for name, r in rates.items()}
    csv, read, one, parallel, whole = (seconds[k] for k in names[:5])
    rest = max(whole - csv - read - one, 1e-9)
    bound = csv + read + rest + parallel
    return {
        "the rest of the build (split plan, encoding, TFRecord writing, shuffling)": as_rate(
            n, rest
        ),
        "Amdahl's bound: the serial parts + the per-image part in parallel": as_rate(n, bound),
    }


OVERLAPPED = (
    "none left: the 1-worker build is faster than its parts one after the other, as its "
    "one decode thread runs beside the main thread's writing"
)


def build_profile(work, patients, repeats) -> list[dict]:
    """The build's stages as rows against the whole single-worker build."""
    start = time.perf_counter()
    data_dir = work / "profile_tfds"
    big = build_rows.synthetic_builder(data_dir, patients=patients, png_size=1024)
    n = sum(s.num_examples for s in big.info.splits.values())
    rates = stage_rates(build_rows.synthetic_manual_dir(big, data_dir), n, repeats)
    rates.update(derived(rates, n))
    whole = rates["whole build, 1 worker"]
    rows = [
        {**row(f"profile build ({n} images): {name}", r, whole), "ms_per_image": 1000 / r["median"]}
        for name, r in rates.items()
    ]
    if rows[6]["ms_per_image"] < 1e-3:  # the rest came out at zero or below
        rows[6]["note"] = OVERLAPPED
    print(f"profile build: {time.perf_counter() - start:.0f} s")
    return rows
