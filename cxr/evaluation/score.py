"""`cxr score`: any model's per-image probabilities, scored exactly as a run's evaluation is.

    cxr score PREDICTIONS.csv --out DIR [--labels nih|expert_all|expert_four]
              [--nih-dir DIR] [--ignore COLUMN ...] [--num-bootstrap 1000] [--seed 0]

PREDICTIONS: one row per image; an image column (`Image Index`, `image_id` or `Image ID`)
and one column per label, matched to the 14 labels ignoring case, spaces and underscores and
one prefix or suffix common to them all (`prob_Effusion`, `effusion_prob`). Labels it lacks
are not scored; a column that is no label is an error unless `--ignore`d. No image is read:
labels and patients come from NIH's Data_Entry CSV in --nih-dir ($CXR14_DIR), or from
Google's radiologist labels there (`cxr_tfds.cxr14_subset.expert_labels`).

Scored: the rows on NIH's official test list with labels in the chosen set. Rows on
train_val_list.txt with labels only choose the operating points, as a run's validation split
does. Rows of images NIH does not list are counted and listed (metrics.json `input`), never
silently dropped. DIR gets what a run's evaluation folder holds (`EvalDir`: metrics.json,
per_label.csv, roc.png, auroc.png, predictions.npz), so `cxr compare` reads it beside a run's.
DIR is written whole or not at all. Its scores go to W&B as a run's evaluation's do (offline
unless logged in; WANDB_MODE=disabled turns it off), under `test/` for NIH's labels and
`test/<label set>/` for Google's, the W&B files in DIR/wandb/.

Google's four-findings set scores Pneumothorax as NIH's label, and Nodule or mass as the
model's max(Nodule, Mass); Fracture and Airspace opacity have no NIH label and are left out.
`on_labelled_images` scores a model against a label set and against NIH's labels on the same
images (`cxr evaluate --labels`).
"""

import argparse
import csv
import dataclasses
import math
import os
import pathlib
import re
import shutil

import numpy as np

from cxr.errors import UserError, exits_cleanly
from cxr.evaluation import classification
from cxr.tracking import wandb_logging, writer
from cxr.tracking.rundir import EvalDir
from cxr_tfds.cxr14_subset import expert_labels, metadata, sources
from cxr_tfds.labels import LABELS

LABEL_SETS = ("nih", expert_labels.ALL_FINDINGS, expert_labels.FOUR_FINDINGS)
SHOWN = 10  # unknown images named on the terminal; metrics.json lists them all
IMAGE_COLUMNS = ("Image Index", "image_id", "Image ID")
# What each label set is, for titles, JSON and W&B.
SOURCES = {
    "nih": "NIH's labels (text-mined from the reports; Data_Entry_2017_v2020.csv)",
    expert_labels.ALL_FINDINGS: "Google's radiologist labels, all findings (majority of 3 "
    "radiologists; Nabulsi et al., Sci Rep 2021)",
    expert_labels.FOUR_FINDINGS: "Google's radiologist labels, four findings (adjudicated by 3 "
    "radiologists; Majkowska et al., Radiology 2019)",
}
# An expert finding that no single NIH label is, scored as the max of the NIH labels it joins:
# the model's probability of either finding is at least the larger of the two.
COMBINED = {"Nodule or mass": ("Nodule", "Mass")}
_HELP_CSV = (
    f"one row per image: an image column ({', '.join(IMAGE_COLUMNS)}) and a column per label"
)


@dataclasses.dataclass
class Predictions:
    """A predictions CSV, read and checked.

    Attributes:
        path: the file.
        image_ids: one per row, unique.
        label_names: the labels it has a column for, in LABELS order.
        probs: float64 (rows, len(label_names)), finite and in [0, 1].
    """

    path: pathlib.Path
    image_ids: list
    label_names: tuple
    probs: np.ndarray


def _key(name: str) -> str:
    return re.sub(r"[\s_]+", "", name).lower()


def read_predictions_csv(path, *, ignore=()) -> Predictions:
    """Reads a CSV of per-image probabilities from any model.

    Args:
        path: the CSV (header row first; comma-separated).
        ignore: columns to skip (a model's outputs that are none of the 14 labels).

    Raises:
        UserError: one line naming the file and the column or row: not a CSV, empty, no or
            two image columns, an unknown or ambiguous column, a cell that is not a
            probability in [0, 1], a row of the wrong length, an image on two rows.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise UserError(f"{path} is not a file; pass a CSV, {_HELP_CSV}")
    try:
        text = path.read_bytes().decode("utf-8-sig")
        rows = list(csv.reader(text.splitlines()))
    except (UnicodeDecodeError, csv.Error) as e:
        raise UserError(f"{path} is not a CSV text file ({e}); write {_HELP_CSV}") from None
    rows = [(line, row) for line, row in enumerate(rows, start=1) if any(c.strip() for c in row)]
    if not rows:
        raise UserError(f"{path} is empty; write {_HELP_CSV}")
    header = [c.strip() for c in rows[0][1]]
    image_column, label_columns = _match_columns(path, header, ignore)
    if len(rows) == 1:
        raise UserError(f"{path} has a header but no rows; write {_HELP_CSV}")
    names = tuple(x for x in LABELS if x in label_columns)
    probs = np.empty((len(rows) - 1, len(names)))
    ids, first_line = [], {}
    for k, (line, row) in enumerate(rows[1:]):
        if len(row) != len(header):
            raise UserError(f"{path}:{line}: {len(row)} fields, the header has {len(header)}")
        image_id = row[image_column].strip()
        if image_id in first_line:
            raise UserError(f"{path}: image {image_id} is on rows {first_line[image_id]} and {line}; keep one row per image")  # fmt: skip
        first_line[image_id] = line
        ids.append(image_id)
        for j, name in enumerate(names):
            probs[k, j] = _probability(row[label_columns[name]], path, line, header[label_columns[name]])  # fmt: skip
    return Predictions(path, ids, names, probs)


def _probability(cell: str, path, line: int, column: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:  # False for NaN too
        raise UserError(f"{path}:{line}: column {column!r} holds {cell.strip()!r}, not a probability in [0, 1]")  # fmt: skip
    return value


def _match_columns(path, header, ignore) -> tuple[int, dict]:
    """(index of the image column, {label: column index}), or a UserError naming a column."""
    image_keys = {_key(x) for x in IMAGE_COLUMNS}
    images = [i for i, name in enumerate(header) if _key(name) in image_keys]
    if len(images) != 1:
        found = ", ".join(repr(header[i]) for i in images) or "none"
        raise UserError(f"{path}: needs exactly one image column ({', '.join(IMAGE_COLUMNS)}); found {found}")  # fmt: skip
    skip = {_key(x) for x in ignore}
    candidates = {i: _key(name) for i, name in enumerate(header) if i != images[0] and _key(name) not in skip}  # fmt: skip
    prefix, suffix = _affix(list(candidates.values()))
    labels = {_key(x): x for x in LABELS}
    out = {}
    for i, key in candidates.items():
        bare = key[len(prefix) : len(key) - len(suffix)] if key.startswith(prefix) and key.endswith(suffix) else None  # fmt: skip
        if bare not in labels:
            raise UserError(f"{path}: column {header[i]!r} is none of the 14 labels ({', '.join(LABELS)}); rename it or pass --ignore {header[i]!r}")  # fmt: skip
        if labels[bare] in out:
            raise UserError(f"{path}: columns {header[out[labels[bare]]]!r} and {header[i]!r} are both {labels[bare]}; keep one")  # fmt: skip
        out[labels[bare]] = i
    return images[0], out


def _affix(keys) -> tuple[str, str]:
    """The (prefix, suffix), one of them empty, that turns the most columns into labels."""
    counts = {("", ""): 0}
    for key in keys:
        for label in {_key(x) for x in LABELS}:
            if key.endswith(label):
                counts[(key[: -len(label)], "")] = counts.get((key[: -len(label)], ""), 0) + 1
            if key.startswith(label) and key != label:
                counts[("", key[len(label) :])] = counts.get(("", key[len(label) :]), 0) + 1
    return max(counts, key=lambda affix: (counts[affix], affix == ("", "")))


@dataclasses.dataclass
class Reference:
    """The labels a set gives: patients, image lists and {image: label vector}.

    Attributes:
        name: the label set (`LABEL_SETS`).
        label_names: the labels the set can score: NIH labels in LABELS order, then the
            findings in `combined`.
        labels: image id -> float (len(label_names),) 0/1 vector, for the labelled images.
        patients: image id -> NIH patient id, every image NIH lists.
        test: NIH's official test images; train_val: the other list.
        combined: finding -> the NIH labels whose max scores it (`COMBINED`).
        left_out: the set's findings that no NIH label scores.
    """

    name: str
    label_names: tuple
    labels: dict
    patients: dict
    test: set
    train_val: set
    combined: dict = dataclasses.field(default_factory=dict)
    left_out: tuple = ()


def load_reference(nih_dir, label_set: str) -> Reference:
    """Reads NIH's files in `nih_dir` and, for an expert set, Google's folder beside them.

    Raises:
        UserError: a missing folder or file (saying where to put it), or a bad row.
    """
    nih_dir = pathlib.Path(nih_dir)
    entry_file = metadata.find_data_entry(nih_dir) if nih_dir.is_dir() else None
    if entry_file is None:
        raise UserError(
            f"no Data_Entry_2017_v2020.csv in {nih_dir}: pass --nih-dir (or set "
            f"${sources.ENV_VAR}) to the folder with NIH's files"
        )
    spec = expert_labels.SETS.get(label_set)
    folder = nih_dir / spec.folder if spec else None
    if spec and not folder.is_dir():
        raise UserError(
            f"--labels {label_set} needs Google's {spec.folder}/ folder in {nih_dir}: put it "
            f"there as Google ships it ({folder}/{spec.truth_files[0]} and the rest)"
        )
    try:
        entries = metadata.read_data_entry(entry_file)
        lists = [
            set(metadata.read_image_list(nih_dir / name))
            for name in (metadata.TEST_LIST, metadata.TRAIN_VAL_LIST)
        ]
    except (ValueError, OSError) as e:
        raise UserError(str(e).splitlines()[0]) from None
    patients = {k: e.patient_id for k, e in entries.items()}
    if spec is None:
        labels = {k: np.array([x in e.labels for x in LABELS], float) for k, e in entries.items()}
        return Reference("nih", LABELS, labels, patients, *lists)
    try:
        found = expert_labels.read_set(folder, spec)
    except ValueError as e:
        raise UserError(str(e)) from None
    finding_of = {y: f for f, y in spec.nih_labels.items()}
    combined = {f: COMBINED[f] for f in spec.findings if f in COMBINED and f not in finding_of}
    names = tuple(x for x in LABELS if x in finding_of) + tuple(combined)
    columns = [spec.findings.index(finding_of.get(x, x)) for x in names]
    labels = {k: call.findings[columns].astype(float) for k, call in found.truth.items()}
    left_out = tuple(f for f in spec.findings if f not in finding_of and f not in combined)
    return Reference(label_set, names, labels, patients, *lists, combined, left_out)


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
    ids = predictions.image_ids
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
    probs = np.stack(columns, axis=1) if columns else np.zeros((len(predictions.image_ids), 0))
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
    keep = [k for k, i in enumerate(predictions.image_ids) if i in reference.labels]
    subset = Predictions(
        predictions.path,
        [predictions.image_ids[k] for k in keep],
        predictions.label_names,
        predictions.probs[keep],
    )
    return tuple(score(subset, r, num_bootstrap=num_bootstrap, seed=seed) for r in (reference, nih))


def side_by_side(by_set: dict, by_nih: dict) -> str:
    """Each label's AUROC against the set's labels and against NIH's, on the same images."""
    a, b = by_set["report"], by_nih["report"]
    name = a["input"]["label_set"]
    lines = [
        f"AUROC on the same {a['n_test_images']} test images, {name} labels beside NIH's:",
        f"{'label':<20}{name:>12}{'NIH':>8}",
    ]
    for label in a["labels"]:
        nih = b["per_label"].get(label, {}).get("auroc", math.nan)
        lines.append(f"{label:<20}{_value(a['per_label'][label]['auroc']):>12}{_value(nih):>8}")
    return "\n".join(lines)


def _value(x) -> str:
    return "n/a" if math.isnan(x) else f"{x:.3f}"


def wandb_prefix(split: str, label_set: str) -> str:
    """W&B key prefix of scores on `split` (its `writer.split_prefix`) against `label_set`:
    NIH's keep a run's evaluation's keys (`test/macro_auroc`), Google's get their own
    (`test/expert_all/macro_auroc`)."""
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
    ids = [predictions.image_ids[r] for r in rows]
    return {
        "image_id": np.array(ids, dtype=str),
        "patient_id": np.array([reference.patients[i] for i in ids], dtype=np.int64),
        "labels": np.array([reference.labels[i][ref_columns] for i in ids]).reshape(
            -1, len(ref_columns)
        ),
        "probs": probs[rows],
    }


def render(scored: dict, eval_dir: EvalDir) -> writer.Result:
    """A run's evaluation files for the scored CSV, and the terminal text."""
    # Imported here: matplotlib's seconds that `cxr score --help` need not pay.
    from cxr.evaluation import classification_report

    report, test = scored["report"], scored["test"]
    result = classification_report.render(report=report, eval_dir=eval_dir)
    result.files[eval_dir.file(EvalDir.PREDICTIONS)] = EvalDir.encode_predictions(
        **test, label_names=report["labels"], dataset=report["dataset"], split=report["split"]
    )
    title = f"Scored against {report['label_source']}"
    result.text = "\n".join([title, *_input_lines(report["input"]), result.text])
    return result


def _input_lines(info) -> list[str]:
    lines = [
        f"{info['predictions']}: {info['n_rows']} rows; scored {info['n_test']} official test "
        f"images with {info['label_set']} labels; {info['n_validation']} validation images "
        "choose the operating points"
    ]
    for key, why in (
        ("not_in_nih_csv", "are not in NIH's Data_Entry CSV"),
        ("without_labels", f"have no {info['label_set']} labels"),
        ("in_neither_list", "are on neither NIH list"),
    ):
        if info[key]:
            shown = ", ".join(info[key][:SHOWN]) + (", ..." if len(info[key]) > SHOWN else "")
            lines.append(f"{len(info[key])} image(s) {why}, not scored: {shown} (all: metrics.json input.{key})")  # fmt: skip
    if info["labels_not_scored"]:
        lines.append(f"Not scored ({info['label_set']} has no such label): {', '.join(info['labels_not_scored'])}")  # fmt: skip
    if info["labels_missing"]:
        lines.append(f"No column for: {', '.join(info['labels_missing'])}")
    for finding, parts in info["combined"].items():
        lines.append(f"{finding}: scored as the model's max({', '.join(parts)})")
    if info["left_out"]:
        lines.append(f"Left out (no NIH label scores them): {', '.join(info['left_out'])}")
    return lines


def staging_dir(out: pathlib.Path) -> pathlib.Path:
    """Where `out`'s files are written before `write_whole` renames the folder to `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return out.parent / f".{out.name}.partial-{os.getpid()}"


def write_whole(result: writer.Result, staging, out, *, wandb_args=None, prefix="test") -> None:
    """Writes `result` (its paths under `staging`), renames `staging` to `out`, then logs it.

    Args:
        result: files under `staging`, W&B items, text.
        staging: `staging_dir(out)`.
        out: the folder the files end in.
        wandb_args: `wandb_logging.init_wandb`'s arguments but `run_dir` (W&B's files go
            in `out`); None: no W&B.
        prefix: the W&B key prefix (`wandb_prefix`).
    """
    try:
        writer.write([dataclasses.replace(result, log={}, summary={})])
        if out.is_dir():
            out.rmdir()  # empty: checked before anything was written
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if wandb_args is None:
        return
    # W&B starts once the files are in place, so its images are read from `out`.
    run = wandb_logging.init_wandb(run_dir=out, **wandb_args)
    if run is None:
        return

    def moved(value):
        if isinstance(value, writer.Image) and isinstance(value.data, pathlib.Path):
            return dataclasses.replace(value, data=out / value.data.relative_to(staging))
        return value

    log = {k: moved(v) for k, v in result.log.items()}
    writer.write([writer.Result(log=log, summary=result.summary)], wandb_run=run, prefix=prefix)
    run.finish()


def check_out(out: pathlib.Path) -> None:
    """Refuses an --out that exists and is not an empty folder (nothing is overwritten)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out {out} exists and is not an empty folder; pass a new folder")


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
    check_out(out)
    # Every check before the first file is written.
    predictions = read_predictions_csv(args.predictions, ignore=args.ignore)
    reference = load_reference(args.nih_dir, args.labels)
    scored = score(predictions, reference, num_bootstrap=args.num_bootstrap, seed=args.seed)
    staging = staging_dir(out)
    wandb_args = dict(
        config={"command": "score", **{k: str(v) for k, v in vars(args).items()}},
        name=f"score {out.name} ({args.labels} labels)",
        tags=("score", args.labels),
        job_type="score",
    )
    prefix = wandb_prefix("test", args.labels)
    write_whole(
        render(scored, EvalDir(staging)), staging, out, wandb_args=wandb_args, prefix=prefix
    )
    macro = scored["report"]["macro"]["auroc"]
    print(f"Scores: {out} (macro AUROC {'n/a' if math.isnan(macro) else f'{macro:.3f}'})")
