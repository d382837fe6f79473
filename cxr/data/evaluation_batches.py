"""One ordered pass over a split: model inputs and every per-image fact, read once.

    for batch in evaluation_batches.batches(builder, "test", 64).as_numpy_iterator():
        batch["image"], batch["labels"], batch["image_id"], batch["patient_id"]
        batch["boxes"], batch["box_labels"]     # where the dataset has boxes
        batch["attribute/sex"], ...             # the raw attribute features it has

`cxr.pipeline.evaluate.predict_split` turns these into a `Predictions`
(`label_space.split_known`, `label_space.attribute_values`, `box_label_index`).
"""

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from cxr.data import datasets, label_space

ATTRIBUTE = "attribute/"  # the prefix of an attribute feature's key in a batch


def batches(builder: tfds.core.DatasetBuilder, split: str, batch_size: int) -> tf.data.Dataset:
    """Batches of dicts: `image` (model input, float32 `[B, S, S, 3]` in [0, 255]),
    `labels` (`[B, L]` float32, `label_space.UNKNOWN` where unknown), `image_id` (bytes),
    `patient_id` (the registry's patient feature), `ATTRIBUTE + <feature>` per attribute
    feature, and where the dataset has boxes, those padded to the batch's most boxes:
    `boxes` (`[B, K, 4]` normalised ymin, xmin, ymax, xmax) and `box_labels` (`[B, K]`,
    indices into the box feature's own names, -1 for padding). Images are decoded here
    and nowhere else, a batch at a time.
    """
    entry = label_space.entry(builder)
    targets = label_space.targets_fn(builder, datasets.label_policy(builder))
    features = sorted({f for fs in label_space.attribute_features(builder).values() for f in fs})
    ds = datasets.records(builder, split, decode_images=False)

    def example(ex):
        out = {
            "image": datasets.model_input(tf.io.decode_png(ex["image"], channels=1)),
            "labels": targets(ex),
            "image_id": ex["image_id"],
            "patient_id": ex[entry.patients],
        }
        out.update({ATTRIBUTE + f: ex[f] for f in features})
        if entry.boxes:
            out.update(boxes=ex[entry.boxes]["bbox"], box_labels=ex[entry.boxes]["label"])
        return out

    ds = ds.map(example, datasets.AUTOTUNE)
    if entry.boxes:
        ds = ds.padded_batch(batch_size, padding_values=_padding(ds.element_spec))
    else:
        ds = ds.batch(batch_size)
    options = tf.data.Options()
    options.deterministic = True
    return ds.with_options(options).prefetch(datasets.AUTOTUNE)


def _padding(spec: dict) -> dict:
    """padded_batch's padding value per key: -1 for box labels, zero (or "") elsewhere.

    Made on use, not at import: a tensor starts TensorFlow's runtime, after which
    `MultiWorkerMirroredStrategy` can no longer set up its collectives (`cxr.runtime.distribution`).
    """
    padding = {}
    for key, s in spec.items():
        if key == "box_labels":
            padding[key] = tf.constant(-1, s.dtype)
        else:
            padding[key] = tf.constant("") if s.dtype == tf.string else tf.zeros([], s.dtype)
    return padding


def box_label_index(builder, label_names) -> np.ndarray:
    """Maps the box feature's label ids to positions in `label_names` (-1: not a label
    the predictions have, e.g. a finding only the boxes name)."""
    entry = label_space.entry(builder)
    names = builder.info.features[entry.boxes]["label"].names
    where = {name: k for k, name in enumerate(label_names)}
    return np.array([where.get(name, -1) for name in names], np.int64)
