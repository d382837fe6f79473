"""Row 5 of `make bench`: whole `cxr14_subset` builds with one decode thread per core
against a single worker, on the real sample and on synthetic 1024 px PNGs (NIH's size).

Also the synthetic datasets the other rows read (`synthetic_builder`). The synthetic
twin's NIH-shaped folder is the builder's own (`synthetic_nih_dir`): its name belongs to
the builder, so the bench asks for it instead of guessing it.
"""

import os
import pathlib
import tempfile

import tensorflow_datasets as tfds

from cxr.bench import measure
from cxr.bench.plan import SIZE
from cxr.runtime import machine as host
from cxr_tfds.cxr14_subset import cxr14_subset_dataset_builder as builder_lib
from cxr_tfds.cxr14_subset import images, metadata

BUILD_GOAL = 1.8  # 2 threads against 1: most of a build is decoding, which parallelises
SAMPLE_FILES = (
    "Data_Entry_2017_v2020.csv",
    metadata.TEST_LIST,
    metadata.TRAIN_VAL_LIST,
    metadata.BBOX_FILE,
)


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


def synthetic_manual_dir(builder, data_dir) -> pathlib.Path:
    """The NIH-shaped folder `builder` generated in `data_dir`, as the builder names it."""
    return pathlib.Path(builder.synthetic_nih_dir(pathlib.Path(data_dir) / "downloads"))


def build_rate(make, n, workers, repeats):
    """Images/s of whole builds (`make()` builds afresh) with `workers` decode threads."""
    os.environ[images.WORKERS_ENV_VAR] = str(workers)
    try:
        return measure.rate(n, measure.timed(make, repeats=repeats))
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


def sample_subset(sample_dir, work, n) -> pathlib.Path:
    """A manual dir of links to the sample's metadata and its first `n` PNGs (a check run's
    build: the same code on fewer images)."""
    folder = pathlib.Path(work) / f"sample_{n}"
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for name in SAMPLE_FILES:
        if (pathlib.Path(sample_dir) / name).exists() and not (folder / name).exists():
            (folder / name).symlink_to((pathlib.Path(sample_dir) / name).resolve())
    for png in sorted(pathlib.Path(sample_dir, "images").glob("*.png"))[:n]:
        if not (folder / "images" / png.name).exists():
            (folder / "images" / png.name).symlink_to(png.resolve())
    return folder


def parallel_row(name, make, n, repeats):
    """`name`'s row: a build with one thread per core against one with a single worker."""
    cores = host.cores()
    return measure.row(
        f"5. build of {name}: {cores} threads vs 1",
        build_rate(make, n, cores, repeats),
        build_rate(make, n, 1, repeats),
        goal=BUILD_GOAL,
    )


def build_rows(work, sizes, sample_dir):
    """Row 5: parallel against single-worker builds, of the real sample (if any) and synthetic PNGs.

    Args:
        work: a scratch folder.
        sizes: a `cxr.bench.plan.Sizes`.
        sample_dir: NIH's files with images; None or without them: no real-sample row.
    """
    result = []
    if sample_dir and pathlib.Path(sample_dir, "Data_Entry_2017_v2020.csv").exists():
        manual = pathlib.Path(sample_dir)
        if sizes.sample_images is not None:
            manual = sample_subset(sample_dir, work, sizes.sample_images)
        n = len(list((manual / "images").glob("*.png")))
        make = fresh_build(manual)
        result.append(parallel_row(f"the real sample ({n} PNGs)", make, n, sizes.build_repeats))
    data_dir = pathlib.Path(work) / "tfds"
    big = synthetic_builder(data_dir, patients=sizes.build_patients, png_size=1024)
    n = sum(s.num_examples for s in big.info.splits.values())
    make = fresh_build(synthetic_manual_dir(big, data_dir))
    result.append(parallel_row(f"{n} synthetic 1024 px PNGs", make, n, sizes.build_repeats))
    return result
