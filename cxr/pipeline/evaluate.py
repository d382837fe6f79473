"""The evaluation stage, and `make evaluate`: a saved run on any built split.

    make evaluate RUN=runs/<name>/<id> [DATA=cxr14_subset/<config>] [SPLIT=test]
    cxr evaluate --run runs/<name>/<id> [--data ...] [--split ...]
    cxr evaluate --run runs/<name>/<id> --labels expert_all|expert_four|rsna [--nih-dir DIR]

`evaluate` reads and decodes the split once, a batch at a time, keeping only
scores and per-image facts (`predict_split`). Then each evaluator
(`cxr.evaluation.evaluators`) names the (image, label) pairs it needs Grad-CAM for; a
second read decodes only those images, Grad-CAM runs once per pair, and each
evaluator gets the maps it asked for. Nothing holds a whole split's images or
heatmaps. Finally `cxr.tracking.writer` writes every evaluator's files, W&B items and text.

A re-evaluation writes into the run's `evaluations/<dataset>/<split>/`, never over
the `eval/` of training, and logs to W&B as an `eval` job in the run's group. Both save
the validation predictions the operating points were chosen on in the validation
split's own folder, `evaluations/<dataset>/<validation split>/` (`cxr predict
--operating-point` chooses its thresholds there).

`--labels` scores the run against Google's or RSNA's radiologist labels instead
(`cxr.pipeline.expert_evaluation`). A saved run is opened, and rerun under its own backend,
by `cxr.pipeline.saved_run`.
"""

import argparse

import numpy as np

from cxr.data import augment, datasets
from cxr.errors import UserError, exits_cleanly
from cxr.evaluation.label_reference import RADIOLOGIST_SETS
from cxr.pipeline import label_match, saved_run, wiring
from cxr.pipeline.split_predictions import predict_split
from cxr.runtime import progress
from cxr.saliency import gradcam
from cxr.tracking import wandb_logging, writer
from cxr.tracking.disabled_run import DISABLED
from cxr.tracking.rundir import EvalDir, RunDir


def evaluate(
    *,
    model,
    builder,
    split,
    val_split,
    eval_dir: EvalDir,
    evaluators,
    batch_size,
    wandb_run=DISABLED,
    tta=None,
    val_dir: EvalDir | None = None,
    model_labels=None,
):
    """Evaluates `model` on `split`: predictions, Grad-CAM once per pair, every evaluator.

    Args:
        model: a cxr model (logits out).
        builder: the dataset holding `split` and `val_split`.
        split: the split to evaluate, any TFDS split expression.
        val_split: where operating points are chosen (validation of the same data).
        eval_dir: where the files go.
        evaluators: from `evaluators.default` (or any with `pairs`, `add`, `result`).
        batch_size: images per batch, for prediction and Grad-CAM.
        wandb_run: a W&B run; a disabled one (the default) logs nothing.
        tta: `augment.tta` arguments ({"flip": bool, "crop": fraction}) to score both
            splits with test-time augmentation; None or all off scores the image alone.
            Grad-CAM always explains `model` itself.
        val_dir: where the validation predictions are saved: the validation split's
            evaluation folder (`RunDir.evaluation(dataset, val_split)`); None: not saved.
        model_labels: the model's outputs' names; None: the dataset's own. Matched to
            the dataset's by name (`label_match`): only the findings both name are scored.

    Returns:
        The `Predictions` of `split`.
    """
    label_names = datasets.label_names(builder.info)
    dataset = datasets.dataset_name(builder)
    match = label_match.match(model_labels or label_names, label_names, dataset=dataset)
    print(f"Evaluating on {split} of {dataset}")
    if not match.identical:
        print(match.text(dataset))
    scorer = model
    if tta and (views := augment.tta_views(**tta)):
        scorer = augment.tta(model, **tta)
        print(f"Test-time augmentation: mean probability of the image and {views}")
    common = dict(model=scorer, builder=builder, batch_size=batch_size, label_names=label_names)
    preds = predict_split(split=split, match=match, **common)
    print(f"Choosing operating points on {val_split}")
    val = predict_split(split=val_split, match=match, **common)
    _gradcam_pairs(model, builder, split, evaluators, preds, batch_size, match.model_columns)
    results = [e.result(preds=preds, val=val, eval_dir=eval_dir) for e in evaluators]
    if not match.identical:
        summary = match.summary()
        results.append(writer.Result(files={eval_dir.file(EvalDir.LABEL_MATCH): summary}))
    if val_dir is not None:
        results.append(writer.Result(files={val_dir.file(EvalDir.PREDICTIONS): val.encoded()}))
    writer.write(results, wandb_run=wandb_run, prefix=writer.split_prefix(split))
    return preds


def _gradcam_pairs(model, builder, split, evaluators, preds, batch_size, outputs):
    """Decodes only the images evaluators asked for and hands each its Grad-CAM maps.

    Grad-CAM runs once per distinct (image, label) pair, `batch_size` pairs at a time,
    and the maps of a batch are dropped once every evaluator has taken what it keeps.
    `outputs[label]` is the model output of `preds.label_names[label]`.
    """
    wanted = {}  # (image, label) -> the evaluators that asked
    for evaluator in evaluators:
        for pair in evaluator.pairs(preds):
            wanted.setdefault((int(pair[0]), int(pair[1])), []).append(evaluator)
    if not wanted:
        return
    by_image = {}
    for index, label in sorted(wanted):
        by_image.setdefault(index, []).append(label)
    print(f"Grad-CAM for {len(wanted)} (image, label) pairs of {len(by_image)} images")
    bar = progress.bar(len(wanted), unit_name="map")
    pending = []  # (index, label, gray)

    def flush():
        grays = np.stack([gray for _, _, gray in pending])
        x = datasets.gray_model_input(grays)
        classes = np.array([outputs[label] for _, label, _ in pending])
        # One backbone pass gives both maps: the signed grid (Wang et al.'s heatmap)
        # and Grad-CAM, its ReLU'd upsampling.
        cams = gradcam.class_activation_grid(model, x, classes, batch_size=batch_size)
        maps = gradcam.upsample(cams, x.shape[1:3])
        for (index, label, gray), heatmap, cam in zip(pending, maps, cams, strict=True):
            for evaluator in wanted[(index, label)]:
                evaluator.add(index=index, label=label, gray=gray, heatmap=heatmap, cam=cam)
        bar.add(len(pending))
        pending.clear()

    for index, gray in datasets.decode_selected(builder, split, sorted(by_image)):
        pending.extend((index, label, gray) for label in by_image[index])
        if len(pending) >= batch_size:
            flush()
    if pending:
        flush()


def evaluate_run(
    *, run: RunDir, dataset=None, split=None, val_split=None, data_dir=None, manual_dir=None
):
    """`make evaluate`: evaluates a saved run's best model, writing a new `EvalDir`.

    Args:
        run: the run directory.
        dataset: `<builder>/<config>` of any registered dataset (external validation:
            the findings the run's model and it share are scored); None for the run's own.
        split: the split to evaluate; None for the run's test split.
        val_split: where operating points are chosen; None for the run's validation
            split on its own dataset, else "validation".
        data_dir, manual_dir: where TFDS data and the release's files are; None for the
            run's (its manual dir only for its own builder; cxr14_subset: then $CXR14_DIR).

    Returns:
        The `EvalDir` written.
    """
    # Everything that can fail on bad input comes before the first file is written.
    opened = saved_run.open_run(
        run, dataset=dataset, split=split, val_split=val_split,
        data_dir=data_dir, manual_dir=manual_dir,
    )  # fmt: skip
    config, model, builder = opened.config, opened.model, opened.builder
    dataset, split, val_split = opened.dataset, opened.split, opened.val_split
    d = config["data"]
    chosen, tta = wiring.evaluation_setup(config)
    eval_dir = run.evaluation(dataset, split)
    job = wiring.start_wandb(config, run=run, evaluation=(dataset, split))
    with wandb_logging.finishing(job) as wandb_run:
        evaluate(
            model=model,
            builder=builder,
            split=split,
            val_split=val_split,
            eval_dir=eval_dir,
            evaluators=chosen,
            batch_size=d["batch_size"],
            wandb_run=wandb_run,
            tta=tta,
            val_dir=run.evaluation(dataset, val_split),
            model_labels=opened.model_labels,
        )
    print(f"Evaluation files: {eval_dir.path}")
    return eval_dir


@exits_cleanly
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="runs/<name>/<run id>")
    parser.add_argument("--data", help="<builder>/<config>; default: the run's dataset")
    parser.add_argument("--split", help="default: the run's test split")
    parser.add_argument("--val-split", help="where thresholds are chosen; default: validation")
    parser.add_argument("--data-dir", help="TFDS data dir; default: the run's")
    parser.add_argument(
        "--manual-dir", help="the release's files; default: the run's (its own dataset's)"
    )
    parser.add_argument("--labels", choices=RADIOLOGIST_SETS, help="radiologists' labels")
    parser.add_argument("--nih-dir", help="with --labels: NIH's files and the radiologists'")
    args = parser.parse_args(argv)
    run = RunDir.open(args.run)
    saved_run.rerun_in_run_backend(run, "evaluate", argv)
    where = dict(dataset=args.data, split=args.split, val_split=args.val_split)
    where.update(data_dir=args.data_dir, manual_dir=args.manual_dir)
    if args.labels:
        # Here, not at the top: expert_evaluation evaluates a split through this module.
        from cxr.pipeline import expert_evaluation

        expert_evaluation.evaluate_labels(
            run=run, labels=args.labels, nih_dir=args.nih_dir, **where
        )
    elif args.nih_dir:
        raise UserError(f"--nih-dir goes with --labels {'|'.join(RADIOLOGIST_SETS)}")
    else:
        evaluate_run(run=run, **where)
