"""`cxr score`: any model's per-image probabilities, scored exactly as a run's evaluation is.

    cxr score PREDICTIONS.csv --out DIR [--labels nih|expert_all|expert_four|rsna]
              [--nih-dir DIR] [--ignore COLUMN ...] [--num-bootstrap 1000] [--seed 0]

PREDICTIONS: one row per image; an image column (`Image Index`, `image_id` or `Image ID`)
and one column per label, matched to the 14 labels ignoring case, spaces and underscores and
one prefix or suffix common to them all (`prob_Effusion`, `effusion_prob`). Labels it lacks
are not scored; a column that is no label is an error unless `--ignore`d. No image is read:
labels and patients come from NIH's Data_Entry CSV in --nih-dir ($CXR14_DIR), or from
Google's radiologist labels there (`cxr_tfds.cxr14_subset.expert_labels`), or from RSNA's
(`cxr.evaluation.rsna_reference`: opacity against the model's Pneumonia, Consolidation,
Infiltration and their max; abnormal against the max of the 14).

Scored: the rows on NIH's official test list with labels in the chosen set. Rows on
train_val_list.txt with labels only choose the operating points, as a run's validation split
does. Rows of images NIH does not list are counted and listed (metrics.json `input`), never
silently dropped. DIR gets what a run's evaluation folder holds (`EvalDir`: metrics.json,
per_label.csv, roc.png, auroc.png, predictions.npz), so `cxr compare` reads it beside a run's.
DIR is written whole or not at all. Its scores go to W&B as a run's evaluation's do (offline
unless logged in; WANDB_MODE=disabled turns it off), under `test/` for NIH's labels and
`test/<label set>/` for the radiologists', the W&B files in DIR/wandb/.

Google's four-findings set scores Pneumothorax as NIH's label, and Nodule or mass as the
model's max(Nodule, Mass); Fracture and Airspace opacity have no NIH label and are left out.
`on_labelled_images` scores a model against a label set and against NIH's labels on the same
images (`cxr evaluate --labels`).
"""

import argparse
import math
import os
import pathlib

import numpy as np

from cxr.errors import UserError, exits_cleanly
from cxr.evaluation import classification, score_report
from cxr.evaluation.label_reference import LABEL_SETS, SOURCES, Reference, load_reference
from cxr.evaluation.predictions_csv import read_predictions_csv
from cxr.tracking import writer
from cxr.tracking.predictions import Predictions
from cxr.tracking.rundir import EvalDir
from cxr_tfds.cxr14_subset import sources


def score(predictions, reference: Reference, *, num_bootstrap=1000, seed=0) -> dict:
    """The classification report (`classification.report`) of a predictions CSV.

    Args:
        predictions: `read_predictions_csv`'s result.
        reference: `load_reference`'s result.
        num_bootstrap: patient bootstrap resamples.
        seed: their seed.

    Returns:
        {"report": the report with dataset, split, val_split and "input" (the CSV's
        accounting), "test": the scored arrays (image_id, patient_id, labels, probs)}.

    Raises:
        UserError: when no row is a labelled official test image, or no label is shared.
    """
    names, probs = _model_probs(predictions, reference)
    if not names:
        raise UserError(
            f"{predictions.path} has no column for the labels {reference.name} gives "
            f"({', '.join(reference.label_names)}); nothing to score"
        )
    ref_columns = [reference.label_names.index(x) for x in names]
    ids = predictions.image_id
    groups = _groups(ids, reference)
    test, val = (_arrays(predictions, reference, groups[k], probs, ref_columns) for k in ("test", "validation"))  # fmt: skip
    if not len(test["image_id"]):
        raise UserError(
            f"none of the {len(ids)} images of {predictions.path} is on NIH's official test "
            f"list with {reference.name} labels; score test-set predictions"
        )
    report = classification.report(
        test_probs=test["probs"],
        test_labels=test["labels"],
        test_patients=test["patient_id"],
        val_probs=val["probs"],
        val_labels=val["labels"],
        label_names=names,
        num_bootstrap=num_bootstrap,
        seed=seed,
        official_images=len(test["image_id"]),  # every scored image is on the official list
    )
    report.update(dataset=f"{reference.name} labels", split="test", val_split="validation")
    report["label_source"] = SOURCES[reference.name]
    used = {y for x in names for y in reference.combined.get(x, (x,))}
    report["input"] = {
        "predictions": str(predictions.path),
        "label_set": reference.name,
        "n_rows": len(ids),
        "n_test": len(groups["test"]),
        "n_validation": len(groups["validation"]),
        "not_in_nih_csv": groups["not_in_nih_csv"],
        "without_labels": groups["without_labels"],
        "in_neither_list": groups["in_neither_list"],
        "labels_not_scored": [x for x in predictions.label_names if x not in used],
        "labels_missing": [x for x in reference.label_names if x not in names],
        "combined": {x: list(reference.combined[x]) for x in names if x in reference.combined},
        "left_out": list(reference.left_out),
    }
    return {"report": report, "test": test}


def _model_probs(predictions, reference) -> tuple[list, np.ndarray]:
    """The reference's labels the predictions can score, and the model's probability of each:
    its own column, or for a combined finding the max over the NIH labels it joins."""
    have = predictions.label_names
    names, columns = [], []
    for x in reference.label_names:
        parts = reference.combined.get(x, (x,))
        if all(y in have for y in parts):
            names.append(x)
            columns.append(predictions.probs[:, [have.index(y) for y in parts]].max(axis=1))
    probs = np.stack(columns, axis=1) if columns else np.zeros((len(predictions.image_id), 0))
    return names, probs


def on_labelled_images(predictions, reference, nih, *, num_bootstrap=1000, seed=0) -> tuple:
    """A model scored against a label set and against NIH's labels, on the images the set labels.

    Args:
        predictions: a `Predictions` (a run's saved test and validation predictions, say).
        reference: `load_reference` of an expert set.
        nih: `load_reference(nih_dir, "nih")`.
        num_bootstrap: patient bootstrap resamples.
        seed: their seed.

    Returns:
        (`score` against `reference`, `score` against `nih`), each on the same images.
    """
    keep = [k for k, i in enumerate(predictions.image_id) if i in reference.labels]
    subset = Predictions(
        probs=predictions.probs[keep],
        image_id=[predictions.image_id[k] for k in keep],
        label_names=predictions.label_names,
        path=predictions.path,
    )
    return tuple(score(subset, r, num_bootstrap=num_bootstrap, seed=seed) for r in (reference, nih))


def wandb_prefix(split: str, label_set: str) -> str:
    """W&B key prefix of scores on `split` (its `writer.split_prefix`) against `label_set`:
    NIH's keep a run's evaluation's keys (`test/macro_auroc`), the radiologists' get their
    own (`test/expert_all/macro_auroc`, `test/rsna/...`)."""
    return split if label_set == "nih" else f"{split}/{label_set}"


def _groups(ids, reference) -> dict:
    """Row indices of test and validation images; the image ids of every other row, by why."""
    out = {k: [] for k in ("test", "validation", "not_in_nih_csv", "without_labels", "in_neither_list")}  # fmt: skip
    for row, image_id in enumerate(ids):
        if image_id not in reference.patients:
            out["not_in_nih_csv"].append(image_id)
        elif image_id not in reference.labels:
            out["without_labels"].append(image_id)
        elif image_id in reference.test:
            out["test"].append(row)
        elif image_id in reference.train_val:
            out["validation"].append(row)
        else:
            out["in_neither_list"].append(image_id)
    return out


def _arrays(predictions, reference, rows, probs, ref_columns) -> dict:
    ids = [predictions.image_id[r] for r in rows]
    return {
        "image_id": np.array(ids, dtype=str),
        "patient_id": np.array([reference.patients[i] for i in ids], dtype=np.int64),
        "labels": np.array([reference.labels[i][ref_columns] for i in ids]).reshape(
            -1, len(ref_columns)
        ),
        "probs": probs[rows],
    }


@exits_cleanly
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("predictions", metavar="PREDICTIONS", help="CSV, one row per image")
    parser.add_argument("--out", required=True, help="new folder for the evaluation files")
    parser.add_argument("--labels", choices=LABEL_SETS, default="nih")
    parser.add_argument("--nih-dir", default=os.environ.get(sources.ENV_VAR), help="NIH folder")
    parser.add_argument("--ignore", nargs="*", default=[], metavar="COLUMN")
    parser.add_argument("--num-bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.num_bootstrap < 1:
        raise UserError(f"--num-bootstrap must be at least 1, got {args.num_bootstrap}")
    if not args.nih_dir:
        raise UserError(f"pass --nih-dir or set ${sources.ENV_VAR} to the folder with NIH's files")
    out = pathlib.Path(args.out)
    writer.check_out(out)
    # Every check before the first file is written.
    predictions = read_predictions_csv(args.predictions, ignore=args.ignore)
    reference = load_reference(args.nih_dir, args.labels)
    scored = score(predictions, reference, num_bootstrap=args.num_bootstrap, seed=args.seed)
    staging = writer.staging_dir(out)
    wandb_args = dict(
        config={"command": "score", **{k: str(v) for k, v in vars(args).items()}},
        name=f"score {out.name} ({args.labels} labels)",
        tags=("score", args.labels),
        job_type="score",
    )
    prefix = wandb_prefix("test", args.labels)
    writer.write_whole(
        score_report.render(scored, EvalDir(staging)),
        staging,
        out,
        wandb_args=wandb_args,
        prefix=prefix,
    )
    macro = scored["report"]["macro"]["auroc"]
    print(f"Scores: {out} (macro AUROC {'n/a' if math.isnan(macro) else f'{macro:.3f}'})")
