"""`cxr saliency`: every saliency method scored on a split's boxes, with CIs and sanity checks.

    cxr saliency --run runs/<name>/<id> [--methods gradcam ig ...] [--data ...] [--split test]
        [--boxes nih|rsna] [--option ig.steps=16] [--sanity-images 3] [--gallery-images 4]
        [--permuted-run runs/<name>_permuted/<id>]

Loads the run's best model (as `cxr evaluate` does), reads the split's (image, label, box)
pairs without decoding an image (`cxr.pipeline.saliency_regions`: NIH's boxes, each with its
own label, or RSNA's opacity boxes, each with the model's Pneumonia, Consolidation and
Infiltration; `cxr.evaluation.box_reference` says which), then decodes only the boxed
images, a batch of pairs at a time. Each method makes the map of each pair's label and the
map is scored at once (the reference's `score`, `saliency_scores.box_scores` for boxes):
only scalars are kept, and the maps of the few gallery pairs. Patients are the bootstrap's
clusters. The validation split's boxes, where it has any, choose each method's
per-label threshold for the tuned mIoU the same way; where it has none, that score is
left out and the report says so. Then Adebayo et al.'s cascading randomisation
(`cxr.saliency.sanity`) runs on a few boxed images, the same pass rule for every method,
and with `--permuted-run` their data randomisation test on the same images: each map
against that of a model trained on permuted labels, judged by the same rule.

Writes `saliency/<dataset>-<split>/` in the run (`..-<split>_rsna/` for RSNA's boxes;
`cxr.tracking.rundir.SaliencyDir`), logs a W&B job in the run's group and prints the table
(`cxr.pipeline.saliency_report`). Methods and options: `saliency_options`; maps made and
scored: `saliency_scoring`; the sanity checks: `saliency_sanity`.
"""

import argparse
import dataclasses

from cxr.data import datasets
from cxr.errors import exits_cleanly
from cxr.evaluation import box_reference
from cxr.pipeline import (
    saliency_masks,
    saliency_regions,
    saliency_report,
    saliency_scoring,
    saved_run,
    wiring,
)
from cxr.pipeline.saliency_options import check_methods, parse_options
from cxr.pipeline.saliency_sanity import load_permuted_model, run_sanity
from cxr.saliency import registry
from cxr.saliency.methods import METHODS
from cxr.tracking import wandb_logging, writer
from cxr.tracking.rundir import RunDir

DEFAULT_METHODS = registry.default_names()  # `cxr.saliency.registry` owns the names


def study(
    *, model, builder, split, val_split, methods, options, batch_size, settings,
    permuted_model=None, reference=None, label_names=None,
):  # fmt: skip
    """Scores, validation thresholds, sanity and gallery of one split: `saliency_report`'s input.

    Args:
        model, builder, split, methods, options, batch_size, reference: As for `score_pairs`.
        val_split: Where per-label thresholds are chosen; its boxes, if any.
        settings: {"num_bootstrap", "seed", "sanity_images", "gallery_images"}.
        permuted_model: A model trained on permuted labels (`load_permuted_model`) for the
            data randomisation test; None skips it.
        label_names: The model's labels, which the pairs' label indices index; None: the
            dataset's (a cxr14_subset model's are the same).

    Returns:
        {"scores": `ScoreBook.summarize`, "seconds_per_map", "boxes", "images",
        "validation_boxes", "sanity" (results, verdicts), "data_randomization" (results,
        verdicts; None when skipped), "kept" (gallery pairs), "label_names"}.
    """
    reference = reference or saliency_regions.REFERENCES[box_reference.NIH]
    pairs = reference.pairs(builder, split)
    reference.check_boxed(builder, split, pairs)
    common = dict(model=model, builder=builder, methods=methods, options=options)
    val_pairs = reference.pairs(builder, val_split) if val_split != split else []
    chosen = saliency_scoring.thresholds(val_split, val_pairs, batch_size=batch_size, reference=reference, **common)  # fmt: skip
    print(f"Saliency of {len(methods)} methods on {len(pairs)} boxes of {split}")
    book, seconds, kept = saliency_scoring.score_pairs(
        split=split,
        pairs=pairs,
        batch_size=batch_size,
        keep=settings["gallery_images"],
        reference=reference,
        **common,
    )
    label_names = label_names or datasets.label_names(builder.info)
    scores = book.summarize(
        label_names=label_names,
        chosen=chosen,
        num_bootstrap=settings["num_bootstrap"],
        seed=settings["seed"],
    )
    sanity_args = dict(split=split, pairs=pairs, images=settings["sanity_images"], **common)
    sanity_results, data_results = _sanity(settings, permuted_model, **sanity_args)
    return {
        "scores": scores,
        "seconds_per_map": seconds,
        "boxes": len(pairs),
        "images": len({p[0] for p in pairs}),
        "validation_boxes": len(val_pairs),
        "sanity": sanity_results,
        "data_randomization": data_results,
        "kept": kept,
        "label_names": label_names,
    }


def saliency_run(
    *, run: RunDir, methods, options, dataset=None, split=None, settings, dirs=None,
    permuted=None, boxes=box_reference.NIH,
):  # fmt: skip
    """`make saliency`: the saliency study of a saved run's best model on one split.

    Args:
        run: The run directory.
        methods: Method names; `options` their options.
        dataset: `cxr14_subset/<config>`; None for the run's own. `split`: None for its test split.
        settings: As for `study`; a None "num_bootstrap" takes the run's `eval.num_bootstrap`.
        dirs: {"data_dir", "manual_dir"} overriding the run's.
        permuted: A run of the same dataset trained on permuted labels, for the data
            randomisation test (`study`); None skips it.
        boxes: Whose boxes (`box_reference.SETS`): `saliency/<dataset>-<split>/` for NIH's,
            `..-<split>_<boxes>/` and W&B keys under `<split>/<boxes>/` for another's.

    Returns:
        The `SaliencyDir` written.
    """
    check_methods(methods, options)
    methods = list(dict.fromkeys(methods))  # a method named twice is scored once
    dirs = dirs or {}
    opened = saved_run.open_run(
        run, dataset=dataset, split=split,
        data_dir=dirs.get("data_dir"), manual_dir=dirs.get("manual_dir"),
    )  # fmt: skip
    config, model, builder = opened.config, opened.model, opened.builder
    dataset, split, val_split = opened.dataset, opened.split, opened.val_split
    d = config["data"]
    settings = _run_settings(settings, config)
    reference = saliency_masks.choose_reference(builder, opened.model_labels, boxes)
    reference.check(builder)  # before a permuted model is loaded or a file written
    permuted_model = permuted and load_permuted_model(permuted, config=config, model=model)
    out = study(
        model=model, builder=builder, split=split, val_split=val_split, methods=methods,
        options=options, batch_size=d["batch_size"], settings=settings,
        permuted_model=permuted_model, reference=reference, label_names=opened.model_labels,
    )  # fmt: skip
    named = split if boxes == box_reference.NIH else f"{split} {boxes}"
    target = run.saliency(dataset, named)
    facts = dict(dataset=dataset, split=split, val_split=val_split, methods=methods)
    facts["box_set"] = dataclasses.asdict(reference.spec)
    if permuted is not None:
        facts["permuted_run"] = str(permuted.path)
    result = saliency_report.result(
        out,
        target=target,
        facts={**facts, "options": options},
        label_names=out["label_names"],
    )
    job = wiring.start_wandb(config, run=run, evaluation=(dataset, named), job=wiring.SALIENCY)
    prefix = writer.split_prefix(split) + ("" if boxes == box_reference.NIH else f"/{boxes}")
    with wandb_logging.finishing(job) as wandb_run:
        writer.write([result], wandb_run=wandb_run, prefix=prefix)
    print(f"Saliency files: {target.path}")
    return target


def _sanity(settings, permuted_model, **sanity_args):
    """(the cascade's results, the data randomisation test's or None) (`run_sanity`)."""
    print(f"Sanity checks on {settings['sanity_images']} images")
    cascade = run_sanity(seed=settings["seed"], **sanity_args)
    if permuted_model is None:
        return cascade, None
    print(f"Data randomisation test on {settings['sanity_images']} images")
    return cascade, run_sanity(seed=settings["seed"], permuted_model=permuted_model, **sanity_args)


def _run_settings(settings, config):
    """`settings` (as for `study`) with the run's defaults for num_bootstrap and seed."""
    settings = {**settings}
    if settings.get("num_bootstrap") is None:
        settings["num_bootstrap"] = config.get("eval", {}).get("num_bootstrap", 1000)
    settings.setdefault("seed", config.get("seed", 0))
    return settings


@exits_cleanly
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="runs/<name>/<run id>")
    parser.add_argument(
        "--methods", nargs="+", default=list(DEFAULT_METHODS), help="of: " + " ".join(METHODS)
    )
    parser.add_argument("--data", help="cxr14_subset/<config>; default: the run's dataset")
    parser.add_argument("--split", help="default: the run's test split")
    parser.add_argument(
        "--boxes", choices=list(box_reference.SETS), default=box_reference.NIH,
        help="whose boxes the maps are scored against",
    )  # fmt: skip
    parser.add_argument("--option", action="append", help="METHOD.NAME=VALUE, e.g. ig.steps=16")
    parser.add_argument(
        "--sanity-images", type=int, default=3, help="images of the sanity check; 0: none"
    )
    parser.add_argument("--gallery-images", type=int, default=4, help="(image, box) pairs drawn")
    parser.add_argument("--num-bootstrap", type=int, help="default: the run's eval.num_bootstrap")
    parser.add_argument("--data-dir", help="TFDS data dir; default: the run's")
    parser.add_argument("--manual-dir", help="NIH files; default: the run's, then $CXR14_DIR")
    parser.add_argument(
        "--permuted-run",
        help="runs/<name>_permuted/<run id>: a run trained on permuted labels (an experiment's "
        ":permuted variant) for the data randomisation test on the --sanity-images images",
    )
    args = parser.parse_args(argv)
    options = parse_options(args.option)
    check_methods(args.methods, options)
    run = RunDir.open(args.run)
    saved_run.rerun_in_run_backend(run, "saliency", argv)
    saliency_run(
        run=run,
        methods=args.methods,
        options=options,
        dataset=args.data,
        split=args.split,
        settings={
            "num_bootstrap": args.num_bootstrap,
            "sanity_images": args.sanity_images,
            "gallery_images": args.gallery_images,
        },
        dirs={"data_dir": args.data_dir, "manual_dir": args.manual_dir},
        permuted=RunDir.open(args.permuted_run) if args.permuted_run else None,
        boxes=args.boxes,
    )
