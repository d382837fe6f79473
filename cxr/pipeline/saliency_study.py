"""`cxr saliency`: every saliency method scored on a split's NIH boxes, with CIs and sanity checks.

    cxr saliency --run runs/<name>/<id> [--methods gradcam ig ...] [--data ...] [--split test]
        [--option ig.steps=16] [--sanity-images 3] [--gallery-images 4]
        [--permuted-run runs/<name>_permuted/<id>]

Loads the run's best model (as `cxr evaluate` does), reads the split's boxes without
decoding an image, then decodes only the boxed images, a batch of (image, box) pairs at
a time. Each method makes the map of each pair's label and the map is scored at once
(`cxr.evaluation.saliency_scores.box_scores`): only scalars are kept, and the maps of the
few gallery pairs. The validation split's boxes, where it has any, choose each method's
per-label threshold for the tuned mIoU the same way; where it has none, that score is
left out and the report says so. Then Adebayo et al.'s cascading randomisation
(`cxr.saliency.sanity`) runs on a few boxed images, the same pass rule for every method,
and with `--permuted-run` their data randomisation test on the same images: each map
against that of a model trained on permuted labels, judged by the same rule.

Writes `saliency/<dataset>-<split>/` in the run (`cxr.tracking.rundir.SaliencyDir`), logs a
W&B job in the run's group and prints the table (`cxr.pipeline.saliency_report`).
"""

import argparse
import json
import time

import numpy as np
import tensorflow_datasets as tfds

from cxr.data import datasets
from cxr.errors import UserError, exits_cleanly
from cxr.evaluation import saliency_scores
from cxr.model import layer_names, saved
from cxr.pipeline import saliency_report, saved_run, wiring
from cxr.runtime import progress
from cxr.saliency import gradcam, registry, sanity
from cxr.saliency.methods import METHODS, saliency_maps
from cxr.tracking import wandb_logging, writer
from cxr.tracking.rundir import RunDir

DEFAULT_METHODS = registry.default_names()  # `cxr.saliency.registry` owns the names


def check_methods(names, options):
    """Raises a one-line `UserError` for an unknown method or an option it does not take."""
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise UserError(
            f"unknown saliency method {', '.join(unknown)}; known: {', '.join(METHODS)}"
        )
    for name, values in options.items():
        if name not in names:
            raise UserError(f"--option {name}.*: {name} is not among --methods {' '.join(names)}")
        wrong = sorted(set(values) - set(METHODS[name].defaults))
        if wrong:
            known = ", ".join(sorted(METHODS[name].defaults))
            raise UserError(f"--option {name}.{wrong[0]}: {name} takes {known}")


def parse_options(items):
    """`["ig.steps=16", "occlusion.stride=32"]` -> {"ig": {"steps": 16}, ...}; JSON values."""
    options = {}
    for item in items or ():
        key, sep, text = item.partition("=")
        method, dot, name = key.rpartition(".")
        if not (sep and dot and method and name):
            raise UserError(f"--option {item!r}: write METHOD.NAME=VALUE, e.g. ig.steps=16")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        options.setdefault(method, {})[name] = value
    return options


def split_boxes(builder, split):
    """Every NIH box of a split, read without decoding an image.

    Returns:
        [(index in the split, label index, (4,) box, patient id, image id)], in the
        split's order.
    """
    ds = builder.as_dataset(
        split=split,
        shuffle_files=False,
        decoders={"image": tfds.decode.SkipDecoding()},
        read_config=tfds.ReadConfig(try_autocache=False),
    )
    ds = ds.map(
        lambda ex: (ex["patient_id"], ex["image_id"], ex["bboxes"]["bbox"], ex["bboxes"]["label"])
    )
    pairs = []
    for index, (patient, image, boxes, labels) in enumerate(ds.as_numpy_iterator()):
        pairs.extend(
            (index, int(k), b, int(patient), image.decode())
            for b, k in zip(boxes, labels, strict=True)
        )
    return pairs


def check_boxed(builder, split, pairs):
    """A one-line `UserError` when `split` has no box, naming the splits that have some."""
    if pairs:
        return
    boxed = [s for s in builder.info.splits if split_boxes(builder, s)]
    have = ", ".join(boxed) if boxed else "none of its splits"
    raise UserError(
        f"split {split!r} of {datasets.dataset_name(builder)} has no NIH boxes to score "
        f"saliency on; boxes are in: {have} (pass --split)"
    )


def score_pairs(*, model, builder, split, pairs, methods, options, batch_size, keep=0):
    """Makes and scores every method's map of every pair, a batch of pairs at a time.

    Args:
        model: The cxr model.
        builder, split: Where the pairs' images are.
        pairs: From `split_boxes`.
        methods: Method names; `options` their options ({name: {option: value}}).
        batch_size: Pairs per batch, and rows per model call.
        keep: How many pairs keep their maps for the gallery: the first box of each of
            the first `keep` images.

    Returns:
        (`saliency_scores.ScoreBook` with every method and both baselines, seconds per
        map per method, the kept pairs: [{"gray", "box", "label", "image_id", "maps"}]).
    """
    book, seconds, kept = saliency_scores.ScoreBook(), dict.fromkeys(methods, 0.0), []
    grid_shape = tuple(model.get_layer(layer_names.GRADCAM_LAYER).output.shape[1:3])
    by_image = {}
    for pair in pairs:
        by_image.setdefault(pair[0], []).append(pair)
    pending, bar = [], progress.bar(len(pairs), unit_name="box")

    def flush():
        x = datasets.gray_model_input(np.stack([gray for _, gray in pending]))
        labels = np.array([p[1] for p, _ in pending])
        boxes = np.stack([p[2] for p, _ in pending])
        book.add_boxes(labels=labels, patients=[p[3] for p, _ in pending])
        maps = _score_methods(
            model,
            x,
            labels,
            boxes,
            methods=methods,
            options=options,
            batch_size=batch_size,
            book=book,
            seconds=seconds,
        )
        baselines = saliency_scores.baseline_scores(
            boxes, image_shape=x.shape[1:3], grid_shape=grid_shape
        )
        for name, columns in baselines.items():
            book.add(name, columns)
        for row, ((_, label, box, _, image_id), gray) in enumerate(pending):
            if len(kept) < keep and image_id not in {k["image_id"] for k in kept}:
                per_method = {n: maps[n][row] for n in methods}
                kept.append(
                    dict(gray=gray, box=box, label=label, image_id=image_id, maps=per_method)
                )
        bar.add(len(pending))
        pending.clear()

    for index, gray in datasets.decode_selected(builder, split, sorted(by_image)):
        pending.extend((pair, gray) for pair in by_image[index])
        if len(pending) >= batch_size:
            flush()
    if pending:
        flush()
    return book, {n: s / max(len(pairs), 1) for n, s in seconds.items()}, kept


def _score_methods(model, x, labels, boxes, *, methods, options, batch_size, book, seconds):
    """Each method's maps of one batch, timed into `seconds`, scored into `book`.

    Returns:
        {method: (B, S, S) maps}.
    """
    maps = {}
    for name in methods:
        start = time.perf_counter()
        maps[name] = saliency_maps(
            model, x, labels, method=name, batch_size=batch_size, **options.get(name, {})
        )
        seconds[name] += time.perf_counter() - start
        grids = None
        if name == "cam":  # Wang et al.'s own heatmap: CAM's signed grid (not timed)
            layer = options.get(name, {}).get("layer_name", layer_names.GRADCAM_LAYER)
            grids = gradcam.class_activation_grid(
                model, x, labels, layer_name=layer, batch_size=batch_size
            )
        book.add(name, saliency_scores.box_scores(maps[name], boxes, grids=grids))
    return maps


def run_sanity(
    *, model, builder, split, pairs, methods, options, images, seed=0, permuted_model=None
):
    """Cascading randomisation on the first `images` boxed images (each its first box's label).

    With `permuted_model`, the data randomisation test on the same images instead
    (`sanity.data_randomization`), judged by the same `sanity.verdicts`.

    Returns:
        The test's results and `sanity.verdicts`, or (None, None) when fewer than two
        images are asked for or boxed (the baseline needs pairs).
    """
    first = {}
    for pair in pairs:
        first.setdefault(pair[0], pair)
    chosen = sorted(first)[:images]
    if len(chosen) < 2:
        return None, None
    grays = dict(datasets.decode_selected(builder, split, chosen))
    x = datasets.gray_model_input(np.stack([grays[i] for i in chosen]))
    classes = np.array([first[i][1] for i in chosen])
    functions = sanity.method_functions(methods, **options)
    if permuted_model is None:
        results = sanity.cascading_randomization(model, x, classes, methods=functions, seed=seed)
    else:
        results = sanity.data_randomization(
            model, permuted_model, x, classes, methods=functions, seed=seed
        )
    return results, sanity.verdicts(results)


def load_permuted_model(permuted_run: RunDir, *, config, model):
    """The best model of a run trained on permuted labels, checked against the studied run.

    Args:
        permuted_run: The run trained with `train.permute_labels_seed` set.
        config, model: The studied run's config (a dict) and model.

    Raises:
        UserError: unless that run permuted its labels, on the studied run's dataset,
            and its model takes and gives what the studied model does.
    """
    other = permuted_run.config()
    flag = f"--permuted-run {permuted_run.path}"
    if wiring.unset_to_none(other.get("train", {}).get("permute_labels_seed")) is None:
        raise UserError(
            f"{flag} was trained on true labels (train.permute_labels_seed unset); pass a "
            "run of an experiment's :permuted variant, e.g. make experiment NAME=learnability:permuted"
        )
    if other["data"]["name"] != config["data"]["name"]:
        raise UserError(
            f"{flag} was trained on {other['data']['name']}, the run on "
            f"{config['data']['name']}: train both on one dataset"
        )
    permuted = saved.load_model(permuted_run.model_file)
    shapes = [(m.input.shape, m.output.shape) for m in (model, permuted)]
    if shapes[0] != shapes[1]:
        raise UserError(f"{flag}: its model maps {shapes[1]}, the run's {shapes[0]}")
    return permuted


def _thresholds(val_split, val_pairs, *, batch_size, **common):
    """Each method's per-label thresholds chosen on the validation boxes; None without any.

    Args:
        val_split, val_pairs: The validation split and its boxes (`split_boxes`).
        batch_size, common: As for `score_pairs` (model, builder, methods, options).
    """
    if not val_pairs:
        return None
    print(f"Choosing per-label thresholds on {len(val_pairs)} boxes of {val_split}")
    val_book, _, _ = score_pairs(split=val_split, pairs=val_pairs, batch_size=batch_size, **common)
    return {
        m: saliency_scores.choose_thresholds(
            val_book.arrays(m)[saliency_scores.IOUS],
            val_book.box_labels(),
            common["model"].output.shape[-1],
        )
        for m in val_book.columns
        if saliency_scores.IOUS in val_book.columns[m]
    }


def study(
    *, model, builder, split, val_split, methods, options, batch_size, settings, permuted_model=None
):
    """Scores, validation thresholds, sanity and gallery of one split: `saliency_report`'s input.

    Args:
        model, builder, split, methods, options, batch_size: As for `score_pairs`.
        val_split: Where per-label thresholds are chosen; its boxes, if any.
        settings: {"num_bootstrap", "seed", "sanity_images", "gallery_images"}.
        permuted_model: A model trained on permuted labels (`load_permuted_model`) for the
            data randomisation test; None skips it.

    Returns:
        {"scores": `ScoreBook.summarize`, "seconds_per_map", "boxes", "images",
        "validation_boxes", "sanity" (results, verdicts), "data_randomization" (results,
        verdicts; None when skipped), "kept" (gallery pairs)}.
    """
    pairs = split_boxes(builder, split)
    check_boxed(builder, split, pairs)
    common = dict(model=model, builder=builder, methods=methods, options=options)
    val_pairs = split_boxes(builder, val_split) if val_split != split else []
    chosen = _thresholds(val_split, val_pairs, batch_size=batch_size, **common)
    print(f"Saliency of {len(methods)} methods on {len(pairs)} boxes of {split}")
    book, seconds, kept = score_pairs(
        split=split, pairs=pairs, batch_size=batch_size, keep=settings["gallery_images"], **common
    )
    scores = book.summarize(
        label_names=datasets.label_names(builder.info),
        chosen=chosen,
        num_bootstrap=settings["num_bootstrap"],
        seed=settings["seed"],
    )
    print(f"Sanity checks on {settings['sanity_images']} images")
    sanity_args = dict(split=split, pairs=pairs, images=settings["sanity_images"], **common)
    sanity_results = run_sanity(seed=settings["seed"], **sanity_args)
    data_results = None
    if permuted_model is not None:
        print(f"Data randomisation test on {settings['sanity_images']} images")
        data_results = run_sanity(
            seed=settings["seed"], permuted_model=permuted_model, **sanity_args
        )
    return {
        "scores": scores,
        "seconds_per_map": seconds,
        "boxes": len(pairs),
        "images": len({p[0] for p in pairs}),
        "validation_boxes": len(val_pairs),
        "sanity": sanity_results,
        "data_randomization": data_results,
        "kept": kept,
    }


def saliency_run(
    *, run: RunDir, methods, options, dataset=None, split=None, settings, dirs=None, permuted=None
):
    """`make saliency`: the saliency study of a saved run's best model on one split.

    Args:
        run: The run directory.
        methods: Method names; `options` their options.
        dataset: `cxr14_subset/<config>`; None for the run's own. `split`: None for its test split.
        settings: As for `study`; a None "num_bootstrap" takes the run's `eval.num_bootstrap`.
        dirs: {"data_dir", "manual_dir"} overriding the run's.
        permuted: A run of the same dataset trained on permuted labels, for the data
            randomisation test (`study`); None skips it.

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
    permuted_model = permuted and load_permuted_model(permuted, config=config, model=model)
    out = study(
        model=model,
        builder=builder,
        split=split,
        val_split=val_split,
        methods=methods,
        options=options,
        batch_size=d["batch_size"],
        settings=settings,
        permuted_model=permuted_model,
    )
    target = run.saliency(dataset, split)
    facts = dict(dataset=dataset, split=split, val_split=val_split, methods=methods)
    if permuted is not None:
        facts["permuted_run"] = str(permuted.path)
    result = saliency_report.result(
        out,
        target=target,
        facts={**facts, "options": options},
        label_names=datasets.label_names(builder.info),
    )
    job = wiring.start_wandb(config, run=run, evaluation=(dataset, split), job=wiring.SALIENCY)
    with wandb_logging.finishing(job) as wandb_run:
        writer.write([result], wandb_run=wandb_run, prefix=writer.split_prefix(split))
    print(f"Saliency files: {target.path}")
    return target


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
    )
