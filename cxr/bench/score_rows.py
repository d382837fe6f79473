"""Row 7 of `make bench`: `cxr score` on NIH's whole official test list, then `cxr readers`.

Scoring is arithmetic on a CSV, so it should finish in seconds: the row times `cxr score`
on one random probability per label for every image of `test_list.txt` (25,596 on NIH's
full metadata) with 1,000 patient-bootstrap resamples, and `cxr readers` on the
all-findings expert set scored the same way. The labels come from the real NIH files
(`../shared/cxr14` or `--sample_dir`), the expert labels from Google's folder beside
them; the row is skipped without them. W&B is off: the row times the scoring.
"""

import contextlib
import csv
import io
import os
import pathlib
import shutil

import numpy as np

from cxr.evaluation import readers, score
from cxr_tfds.cxr14_subset import metadata
from cxr_tfds.labels import LABELS

GOAL_SECONDS = 10  # "finishes in seconds" on 2 cores
EXPERT_FOLDER = "all_findings_expert_labels"


def nih_dir_for_bench(sample_dir, work) -> pathlib.Path | None:
    """A folder of links to NIH's metadata and Google's expert folder; None without them."""
    sample = pathlib.Path(sample_dir)
    experts = sample.parent / "google_expert_labels" / EXPERT_FOLDER
    names = (metadata.TEST_LIST, metadata.TRAIN_VAL_LIST, "Data_Entry_2017_v2020.csv")
    if not experts.is_dir() or not all((sample / n).exists() for n in names):
        return None
    folder = pathlib.Path(work) / "nih"
    folder.mkdir(parents=True, exist_ok=True)
    for target in [*(sample / n for n in names), experts]:
        link = folder / target.name
        if not link.exists():
            link.symlink_to(target.resolve())
    return folder


def write_predictions(nih_dir, path, *, seed=0) -> int:
    """A CSV of random probabilities for every image of the official test list."""
    images = metadata.read_image_list(pathlib.Path(nih_dir) / metadata.TEST_LIST)
    probs = np.random.default_rng(seed).random((len(images), len(LABELS)))
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["Image Index", *LABELS])
        out.writerows(
            [image, *(f"{p:.6f}" for p in row)] for image, row in zip(images, probs, strict=True)
        )
    return len(images)


def score_seconds(nih_dir, work, *, timed, repeats=3, resamples=1000) -> tuple[int, dict, dict]:
    """Times `cxr score` (NIH labels) and `cxr score` + `cxr readers` (expert_all).

    Args:
        nih_dir: from `nih_dir_for_bench`.
        work: a scratch folder.
        timed: `cxr.bench.rows.timed`.
        repeats: timed runs after one warm-up.
        resamples: patient-bootstrap resamples of each score (the goal is set at 1,000).

    Returns:
        The number of images scored and the two `timed` results in seconds.
    """
    work = pathlib.Path(work)
    work.mkdir(parents=True, exist_ok=True)
    csv_file = work / "predictions.csv"
    n = write_predictions(nih_dir, csv_file)
    os.environ["WANDB_MODE"] = "disabled"  # this throwaway process times the arithmetic

    def run(*argv):
        out = pathlib.Path(argv[argv.index("--out") + 1])
        shutil.rmtree(out, ignore_errors=True)  # `cxr score` refuses an existing OUT
        return [*argv, "--num-bootstrap", str(resamples)]

    def nih():
        with contextlib.redirect_stdout(io.StringIO()):  # its report: the bench times it
            score.main(run(str(csv_file), "--out", str(work / "nih"), "--nih-dir", str(nih_dir)))

    def experts():
        expert_out = work / "expert_all"
        with contextlib.redirect_stdout(io.StringIO()):
            score.main(run(str(csv_file), "--out", str(expert_out), "--nih-dir", str(nih_dir),
                           "--labels", "expert_all"))  # fmt: skip
            readers.main(run(str(expert_out), "--out", str(work / "readers"),
                             "--nih-dir", str(nih_dir)))  # fmt: skip

    return n, timed(nih, repeats), timed(experts, repeats)
