"""`cxr evaluate --labels expert_all|expert_four|rsna`: a run scored against radiologists'
labels (Google's, or RSNA's Pneumonia Detection Challenge's) instead of NIH's.

Its saved predictions (a split without any is evaluated first, `cxr.pipeline.evaluate`), on
the images the set labels, are scored against the set and against NIH's labels on the same
images (`label_reference.load_pair`: for RSNA, NIH's on RSNA's rows), into
`evaluations/<dataset>/<split>_<labels>/` and `..._<labels>_nih/`; with expert_all, also
against the radiologists outside the panel (`cxr.evaluation.readers`).
"""

import os

import numpy as np

from cxr.data import datasets
from cxr.errors import UserError
from cxr.evaluation import label_reference, readers, score, score_report
from cxr.pipeline import evaluate, wiring
from cxr.tracking import wandb_logging, writer
from cxr.tracking.predictions import Predictions
from cxr.tracking.rundir import EvalDir, RunDir
from cxr_tfds.cxr14_subset import expert_labels, sources


def evaluate_labels(
    *,
    run: RunDir,
    labels,
    dataset=None,
    split=None,
    val_split=None,
    data_dir=None,
    manual_dir=None,
    nih_dir=None,
):
    """`cxr evaluate --labels`: a run scored against radiologists' labels, beside NIH's.

    The run's saved predictions of `split` (a re-evaluation's, else the training's own) and of
    `val_split` (they choose the operating points where the set labels validation images) are
    scored on the images the set labels; a split without any is evaluated first.

    Args:
        run: the run directory.
        labels: a radiologists' set (`label_reference.RADIOLOGIST_SETS`).
        dataset, split, val_split, data_dir, manual_dir: as `evaluate.evaluate_run`'s.
        nih_dir: the folder with NIH's files and the radiologists' (Google's label folders,
            RSNA's files); None for the synthetic twin's generated folder, else the manual
            dir, else $CXR14_DIR.

    Returns:
        The `EvalDir` of the scores against `labels`.
    """
    config = run.config()
    d = config["data"]
    dataset, split = dataset or d["name"], split or d["test_split"]
    val_split = val_split or (d["val_split"] if dataset == d["name"] else "validation")
    if not nih_dir:
        builder = datasets.find(dataset, data_dir or d["data_dir"])
        nih_dir = _nih_dir(builder, manual_dir or d["manual_dir"])
    # Every check on the label files before anything is predicted or written.
    references = label_reference.load_pair(nih_dir, labels)
    spec = expert_labels.SETS.get(labels)  # Google's: their individual readers too
    experts = spec and expert_labels.read_set(os.path.join(nih_dir, spec.folder), spec)
    where = dict(dataset=dataset, split=split, val_split=val_split)
    where.update(data_dir=data_dir, manual_dir=manual_dir)
    test_dir = _saved_predictions(run, dataset, split) or evaluate.evaluate_run(run=run, **where)
    predictions = _predictions(test_dir, run.evaluation(dataset, val_split))
    folders = [run.evaluation(dataset, f"{split} {name}") for name in (labels, f"{labels} nih")]
    results = _label_results(
        predictions=predictions,
        references=references,
        experts=experts,
        folders=folders,
        num_bootstrap=config["eval"]["num_bootstrap"],
        seed=config["seed"],
    )
    job = wiring.start_wandb(config, run=run, evaluation=(dataset, f"{split} {labels}"))
    prefix = score.wandb_prefix(writer.split_prefix(split), labels)
    with wandb_logging.finishing(job) as wandb_run:
        for result, key in zip(results, (prefix, f"{prefix}/nih", prefix), strict=True):
            writer.write(result, wandb_run=wandb_run, prefix=key)
    print(f"Evaluation files: {folders[0].path} and {folders[1].path}")
    return folders[0]


def _nih_dir(builder, manual_dir):
    """The folder with NIH's files: the synthetic twin's generated one, the manual dir, or
    $CXR14_DIR."""
    if builder.builder_config.synthetic_patients:
        # The twin writes its NIH files and label folders into TFDS's download folder
        # (what `datasets.build` downloads to).
        return builder.synthetic_nih_dir(builder.data_dir_root / "downloads")
    found = manual_dir or os.environ.get(sources.ENV_VAR)
    if not found:
        raise UserError(
            f"pass --nih-dir (or set ${sources.ENV_VAR}) to the folder with NIH's files and "
            "the radiologists' labels"
        )
    return found


def _saved_predictions(run: RunDir, dataset, split) -> EvalDir | None:
    """The evaluation of `split` holding predictions: a re-evaluation's, else the training's."""
    d = run.config()["data"]
    candidates = [run.evaluation(dataset, split)]
    if (dataset, split) == (d["name"], d["test_split"]):
        candidates.append(run.evaluation())
    return next((e for e in candidates if e.file(EvalDir.PREDICTIONS).is_file()), None)


def _predictions(test_dir: EvalDir, val_dir: EvalDir) -> Predictions:
    """The saved test predictions, then the validation ones where saved, as `score` reads them."""
    saved = [test_dir.read_predictions()]
    if val_dir.file(EvalDir.PREDICTIONS).is_file():
        saved.append(val_dir.read_predictions())
    ids, rows = {}, []  # image id -> row, in order; an image saved twice counts once
    for part in saved:
        for k, image_id in enumerate(str(i) for i in part["image_id"]):
            if image_id not in ids and part["label_names"] == saved[0]["label_names"]:
                ids[image_id] = len(rows)
                rows.append(part["probs"][k])
    probs = np.array(rows, float).reshape(len(rows), len(saved[0]["label_names"]))
    path = test_dir.file(EvalDir.PREDICTIONS)
    return Predictions(
        probs=probs, image_id=list(ids), label_names=saved[0]["label_names"], path=path
    )


def _label_results(*, predictions, references, experts, folders, num_bootstrap, seed) -> list:
    """The results of `evaluate_labels`: [the set's scores, NIH's on the same images, the
    two side by side and the readers]; each a list for one `writer.write`."""
    by_set, by_nih = score.on_labelled_images(
        predictions, *references, num_bootstrap=num_bootstrap, seed=seed
    )
    where = (
        f"On the {by_set['report']['input']['n_rows']} of the run's "
        f"{len(predictions.image_id)} saved test and validation images with "
        f"{references[0].name} labels:"
    )
    by_set_result, nih = (
        score_report.render(by_set, folders[0]),
        score_report.render(by_nih, folders[1]),
    )
    for result in (by_set_result, nih):
        result.text = f"{where}\n{result.text}"
    last = [writer.Result(text=score_report.side_by_side(by_set, by_nih))]
    independent = readers.independent_readers(experts) if experts else ()
    if independent:
        test = {**by_set["test"], "label_names": tuple(by_set["report"]["labels"])}
        report = readers.compare_with_readers(
            predictions=test,
            experts=experts,
            readers=independent,
            num_bootstrap=num_bootstrap,
            seed=seed,
        )
        last.append(readers.render(report, folders[0].path))
    return [[by_set_result], [nih], last]
