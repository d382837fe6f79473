"""Made-up images, labels, boxes and the predictions record the evaluators take."""

import dataclasses

import numpy as np

from cxr.tracking.predictions import Predictions
from cxr_tfds.labels import LABELS

SIZE = 64


def fake_data(n=10, seed=0):
    """Gray images, multi-hot labels and one box per image for its first label."""
    rng = np.random.default_rng(seed)
    gray = rng.integers(0, 256, (n, SIZE, SIZE), dtype=np.uint8)
    labels = (rng.random((n, len(LABELS))) < 0.3).astype(np.float32)
    labels[:3, 0], labels[3:6, 0] = 1, 0  # Atelectasis has every kind of case
    boxes = [np.array([[0.1, 0.2, 0.5, 0.6]]) for _ in range(n)]
    box_labels = [np.array([int(np.argmax(row))]) for row in labels]
    return gray, labels, boxes, box_labels


def predictions(gray, labels, boxes, box_labels, probs):
    """What `cxr.pipeline.evaluate.predict_split` gives the evaluators, for made-up data."""
    n = len(gray)
    return Predictions(
        probs=probs,
        labels=labels,
        image_id=np.array([f"{i:08d}_000.png" for i in range(n)]),
        patient_id=np.arange(n),
        boxes=boxes,
        box_labels=box_labels,
        label_names=LABELS,
        dataset="made-up",
        split="test",
        official_images=0,
        # As cxr14_subset gives them (`predict_split`): sex, age (NaN unknown) and view.
        attributes={
            "sex": np.where(np.arange(n) % 2, "F", "M"),
            "age": np.where(np.arange(n) % 7 == 6, np.nan, np.arange(n) * 13 % 90.0),
            "view": np.where(np.arange(n) % 3, "PA", "AP"),
        },
    )


def validation(preds):
    """Made-up validation predictions: the test ones with the scores shuffled a little."""
    rng = np.random.default_rng(2)
    probs = np.clip(preds.probs + rng.normal(0, 0.2, preds.probs.shape), 0, 1)
    return dataclasses.replace(preds, probs=probs, split="validation")
