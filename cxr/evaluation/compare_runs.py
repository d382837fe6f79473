"""`make compare`: AUROC differences between runs, paired on the same images or unpaired.

    cxr compare RUN RUN [RUN ...] --out DIR [--num-bootstrap 1000] [--seed 0]
                [--min-positive-patients K] [--unpaired] [--no-subgroups]

Each RUN is a run directory (its own evaluation, eval/, is used) or an
evaluation folder holding predictions.npz (runs/<name>/<id>/evaluations/<dataset>/<split>).
The first is the reference; each other is compared with it, label by label and for
the macro mean; a difference is always the other run's AUROC minus the reference's.

Paired (the default; `cxr.evaluation.compare_paired`): the runs must have been evaluated
on the same images, and anything else is refused in one line. Each row: a paired
patient-bootstrap CI and three p-values (Obuchowski's clustered test the headline,
the bootstrap's, DeLong's), a p-value not shown where its measured type-I error
(docs/results/type1.json) exceeds 0.06 at the label's positive-patient count; the macro
averages every label defined on the split, or with --min-positive-patients K those with
K positive patients or more. Where the reference's predictions carry sex, age or view,
the same comparison is made within every subgroup (`cxr.evaluation.compare_subgroups`;
--no-subgroups skips it).

--unpaired (`cxr.evaluation.compare_unpaired`): evaluations of different images, such
as a run's own test set against another hospital's: the labels both predict, each
evaluation's patients resampled alone, a CI and no p-value. Evaluations of the same
images are refused (compare them paired), and so are two evaluations of one dataset
that share images or patients.

This module reads and checks the runs; `cxr.evaluation.compare_report` writes
DIR/compare.json, DIR/compare.png and the table, and `main` logs a W&B run of job
type "compare" (files under DIR/wandb) and prints the table.
"""

import argparse
import pathlib

import numpy as np

from cxr.errors import UserError, exits_cleanly
from cxr.evaluation import compare_paired, compare_report, compare_subgroups, compare_unpaired
from cxr.evaluation.compare_paired import COMMITTED, WITHHOLD_RULE, compare  # noqa: F401 (the API)
from cxr.tracking import wandb_logging, writer
from cxr.tracking.rundir import EvalDir, RunDir

JSON_FILE, PLOT_FILE = compare_report.JSON_FILE, compare_report.PLOT_FILE
_HELP_RUNS = "runs/<name>/<run id> or an evaluation folder holding " + EvalDir.PREDICTIONS
PER_IMAGE = ("image_id", "patient_id", "labels", "probs")  # what `align` reorders


def load_predictions(path) -> dict:
    """One RUN's predictions (`EvalDir.read_predictions`) with its "path".

    Raises:
        UserError: when `path` is neither a run directory nor an evaluation
            folder, holds no predictions, or has non-finite probabilities.
    """
    path = pathlib.Path(path)
    folder = EvalDir(path)
    if not folder.file(EvalDir.PREDICTIONS).is_file():
        if not RunDir(path).config_file.is_file():
            raise UserError(
                f"{path} is neither a run directory (no {RunDir.CONFIG}) nor an evaluation "
                f"folder (no {EvalDir.PREDICTIONS}); pass {_HELP_RUNS}"
            )
        folder = RunDir.open(path).evaluation()
    predictions = folder.read_predictions()
    if not np.isfinite(predictions["probs"]).all():
        raise UserError(
            f"{folder.file(EvalDir.PREDICTIONS)} holds non-finite probabilities; evaluate the run again"
        )
    return {**predictions, "path": str(path)}


def align(reference: dict, other: dict) -> dict:
    """`other`'s predictions with its rows in `reference`'s image order.

    Raises:
        UserError: when the two differ in label names, image set, labels or
            patients; the one-line message says how and what to do.
    """
    ref, oth = reference["path"], other["path"]
    if other["label_names"] != reference["label_names"]:
        raise UserError(
            f"{oth} predicts labels {list(other['label_names'])}, {ref} predicts "
            f"{list(reference['label_names'])}: compare runs with the same labels"
        )
    ids, other_ids = reference["image_id"], other["image_id"]
    if not np.array_equal(ids, other_ids):
        common = np.intersect1d(ids, other_ids).size
        # Equal counts, all shared and unique: the same images, in another order.
        if not len(ids) == len(other_ids) == common == np.unique(ids).size:
            raise UserError(
                f"{oth} was evaluated on {len(other_ids)} images ({_split(other)}), {ref} on "
                f"{len(ids)} ({_split(reference)}), {common} of them shared: evaluate both on "
                f"the same images, e.g. make evaluate RUN=<run> DATA={reference['dataset']} "
                f"SPLIT={reference['split']}, or compare them unpaired (--unpaired)"
            )
        order = np.argsort(other_ids)[np.searchsorted(np.sort(other_ids), ids)]
        keys = [*PER_IMAGE, *(["known"] if other.get("known") is not None else [])]
        other = {**other, **{k: other[k][order] for k in keys}}
        other["attributes"] = {k: v[order] for k, v in (other.get("attributes") or {}).items()}
    for key, what in (("labels", "labels"), ("patient_id", "patient ids")):
        # As strings: one run may store patient ids as ints, another as text.
        mismatch = reference[key].astype(str) != other[key].astype(str)
        differ = int(mismatch.reshape(len(ids), -1).any(axis=1).sum())
        if differ:
            raise UserError(
                f"{oth} and {ref} have the same images but different {what} for {differ} of "
                f"them ({_split(other)} vs {_split(reference)}): evaluate both on the same "
                "dataset version"
            )
    return other


def _init_wandb(report, out_dir):
    # <experiment>/<run id> of a run directory; the tail of an evaluation folder.
    tails = ["/".join(pathlib.Path(p).parts[-2:]) for p in [report["reference"], *report["runs"]]]
    keys = ("reference", "runs", "dataset", "split", "bootstrap", "mode")
    config = {k: report[k] for k in keys if k in report}
    name = "compare " + " vs ".join(tails)
    return wandb_logging.init_wandb(
        config=config, name=name, run_dir=out_dir, tags=("compare",), job_type="compare"
    )


def _split(predictions):
    return f"{predictions['dataset']} {predictions['split']}"


def _parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", metavar="RUN", help=f"{_HELP_RUNS}; first: reference")
    parser.add_argument("--out", required=True, help="folder for compare.json, compare.png, wandb/")
    parser.add_argument("--num-bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--min-positive-patients",
        type=int,
        default=0,
        metavar="K",
        help="leave labels with fewer than K positive patients out of the macro (they keep "
        "their own rows; compare.json lists them as left_out); default 0: every defined label",
    )
    parser.add_argument(
        "--unpaired",
        action="store_true",
        help="evaluations of different images (another dataset, hospital or split): each "
        "one's patients resampled alone, the labels both predict; no p-values",
    )
    parser.add_argument(
        "--no-subgroups",
        action="store_true",
        help="paired: skip the per-subgroup comparison (sex, age, view, sex x age)",
    )
    return parser


def _checked(args):
    """Raises a `UserError` for a bad option, before anything is read."""
    if len(args.runs) < 2:
        usage = 'make compare RUNS="runs/a/<id> runs/b/<id>" OUT=<dir>'
        raise UserError(f"compare needs two runs or more, got {len(args.runs)}: {usage}")
    if args.num_bootstrap < 1:
        raise UserError(f"--num-bootstrap must be at least 1, got {args.num_bootstrap}")
    if args.min_positive_patients < 0:
        raise UserError(
            f"--min-positive-patients must be 0 or more, got {args.min_positive_patients}"
        )
    if args.unpaired and args.min_positive_patients:
        raise UserError("--min-positive-patients is the paired mode's; drop it with --unpaired")
    out = pathlib.Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; pass a folder")
    return out


def _report(args, runs):
    """The comparison the options ask for, of runs read and checked."""
    settings = {"num_bootstrap": args.num_bootstrap, "seed": args.seed}
    if args.unpaired:
        for run in runs[1:]:
            compare_unpaired.check_disjoint(runs[0], run)
        return compare_unpaired.compare(runs, **settings)
    runs = [runs[0], *(align(runs[0], run) for run in runs[1:])]
    settings["min_positive_patients"] = args.min_positive_patients
    report = compare_paired.compare(runs, **settings)
    if not args.no_subgroups:
        report["subgroups"] = compare_subgroups.compare(runs, **settings)
    return report


@exits_cleanly
def main(argv=None):
    args = _parser().parse_args(argv)
    out = _checked(args)
    # Every check before the first file is written.
    runs = [load_predictions(path) for path in args.runs]
    report = _report(args, runs)
    with wandb_logging.finishing(_init_wandb(report, out)) as wandb_run:
        writer.write([compare_report.render(report, out)], wandb_run=wandb_run, prefix="compare")
    print(f"Comparison files: {out}")
