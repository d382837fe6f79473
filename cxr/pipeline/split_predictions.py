"""`predict_split`: a model's probabilities on every image of a split, with every per-image
fact the evaluators use (labels and their known mask, patients, boxes, attributes).

`cxr.pipeline.evaluate` calls it twice per evaluation (test and validation); it reads
the split once, a batch at a time (`cxr.data.evaluation_batches`).
"""

import re

import numpy as np

from cxr.data import datasets, evaluation_batches, label_space
from cxr.inference import scoring
from cxr.runtime import progress
from cxr.tracking.predictions import Predictions

NO_BOXES = np.zeros((0, 4), np.float32)
NO_BOX_LABELS = np.zeros((0,), np.int64)
NO_BOXES.flags.writeable = NO_BOX_LABELS.flags.writeable = False


def predict_split(*, model, builder, split, batch_size, label_names, match=None) -> Predictions:
    """Scores every image of `split` once, in order, with a progress bar.

    Every batch is padded to `batch_size` and spread over the devices the model was
    built for (`cxr.inference.scoring.probabilities`), so the model compiles one input
    shape, and the padding's scores are dropped. Labels come with their `known` mask
    (None where every label is known) and the dataset's per-image attributes. With a
    `label_match.Match` of the model's labels to the dataset's `label_names`, only the
    findings both name are kept, in the model's order.
    """
    kept = match.shared if match else tuple(label_names)
    steps = datasets.num_batches(builder, split, batch_size)
    bar = progress.bar(steps, unit_name="batch")
    columns = {k: [] for k in ("probs", "labels", "image_id", "patient_id")}
    attributes = label_space.attribute_features(builder)
    raw_attributes = {f: [] for fs in attributes.values() for f in fs}
    boxes, box_labels = [], []
    box_index = None
    if label_space.entry(builder).boxes:
        box_index = evaluation_batches.box_label_index(builder, kept)
    for batch in evaluation_batches.batches(builder, split, batch_size).as_numpy_iterator():
        columns["probs"].append(scoring.probabilities(model, batch["image"], batch_size))
        for key in ("labels", "image_id", "patient_id"):
            columns[key].append(batch[key])
        for feature, values in raw_attributes.items():
            values.append(batch[evaluation_batches.ATTRIBUTE + feature])
        _add_boxes(boxes, box_labels, batch, box_index)
        bar.add(1)
    arrays = {
        k: np.concatenate(v) if v else np.zeros((0, len(label_names))) for k, v in columns.items()
    }
    targets, probs = arrays["labels"].reshape(-1, len(label_names)), arrays["probs"]
    if match:
        targets = targets[:, list(match.data_columns)]
        probs = probs.reshape(len(targets), -1)[:, list(match.model_columns)]
    labels, known = label_space.split_known(targets)
    config = getattr(builder, "builder_config", None)
    synthetic = bool(getattr(config, "synthetic_patients", False))
    official = builder.name == "cxr14_subset" and not synthetic
    on_test_list = official and re.match(r"test\b", split) is not None
    return Predictions(
        probs=probs.astype(np.float32),
        labels=labels,
        known=known,
        attributes=_attributes(builder, attributes, raw_attributes),
        image_id=_text(arrays["image_id"]),
        patient_id=_patients(arrays["patient_id"]),
        boxes=boxes,
        box_labels=box_labels,
        label_names=kept,
        dataset=datasets.dataset_name(builder),
        split=split,
        official_images=len(labels) if on_test_list else 0,
    )


def _add_boxes(boxes, box_labels, batch, box_index):
    """Appends a batch's boxes per image, labels as indices into the predictions' labels;
    boxes of a finding the predictions lack are dropped (`box_index` -1), none: no boxes."""
    for i in range(len(batch["image_id"])):
        kept = np.zeros(0, bool)
        if box_index is not None:
            ks = batch["box_labels"][i]
            mapped = np.where(ks >= 0, box_index[np.maximum(ks, 0)], -1)
            kept = mapped >= 0
        if kept.any():
            boxes.append(batch["boxes"][i][kept])
            box_labels.append(mapped[kept])
        else:  # most images: share two empty arrays instead of two new ones per image
            boxes.append(NO_BOXES)
            box_labels.append(NO_BOX_LABELS)


def _attributes(builder, attributes, raw) -> dict:
    """name -> (N,) `Predictions.attributes` values from the raw features read."""
    out = {}
    for name, features in attributes.items():
        columns = [np.concatenate(raw[f]) if raw[f] else np.zeros(0) for f in features]
        out[name] = label_space.attribute_values(builder.info, name, *columns)
    return out


def _text(values) -> np.ndarray:
    return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values], dtype=str)


def _patients(values) -> np.ndarray:
    """Patient ids: int64 where the dataset stores numbers (cxr14_subset), else text."""
    values = np.asarray(values)
    return values.astype(np.int64) if values.dtype.kind in "iu" else _text(values)
