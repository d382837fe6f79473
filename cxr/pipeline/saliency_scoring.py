"""The saliency study's maps, made and scored a batch of (image, label, region) pairs at a
time: only scalars are kept (a `saliency_scores.ScoreBook`), and the maps of the few gallery
pairs; and each method's per-label thresholds chosen on the validation split's pairs."""

import time

import numpy as np

from cxr.data import datasets
from cxr.evaluation import box_reference, saliency_scores
from cxr.model import layer_names
from cxr.pipeline import saliency_regions
from cxr.runtime import progress
from cxr.saliency import gradcam
from cxr.saliency.methods import saliency_maps


def score_pairs(
    *, model, builder, split, pairs, methods, options, batch_size, keep=0, reference=None
):
    """Makes and scores every method's map of every pair, a batch of pairs at a time.

    Args:
        model: The cxr model.
        builder, split: Where the pairs' images are.
        pairs: From the reference's `pairs`.
        methods: Method names; `options` their options ({name: {option: value}}).
        batch_size: Pairs per batch, and rows per model call.
        keep: How many pairs keep their maps for the gallery: the first box of each of
            the first `keep` images.
        reference: The `saliency_regions.Reference` that scores them; None: NIH's boxes.

    Returns:
        (`saliency_scores.ScoreBook` with every method and both baselines, seconds per
        map per method, the kept pairs: [{"gray", "box", "label", "image_id", "maps"}]).
    """
    reference = reference or saliency_regions.REFERENCES[box_reference.NIH]
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
            model, x, labels, boxes, methods=methods, options=options, batch_size=batch_size,
            book=book, seconds=seconds, score=reference.score,
        )  # fmt: skip
        baselines = reference.baselines(boxes, image_shape=x.shape[1:3], grid_shape=grid_shape)
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


def _score_methods(model, x, labels, boxes, *, methods, options, batch_size, book, seconds, score):
    """Each method's maps of one batch, timed into `seconds`, scored by `score` into `book`.

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
        book.add(name, score(maps[name], boxes, grids=grids))
    return maps


def thresholds(val_split, val_pairs, *, batch_size, **common):
    """Each method's per-label thresholds chosen on the validation boxes; None without any.

    Args:
        val_split, val_pairs: The validation split and its pairs (the reference's).
        batch_size, common: As for `score_pairs` (model, builder, methods, options, reference).
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
