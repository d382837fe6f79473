"""predict_split gives each image its labels, known mask and attributes as the dataset stores them."""

import numpy as np
import tensorflow_datasets as tfds

from cxr.data import datasets
from cxr.model import classifier
from cxr.pipeline import evaluate

SPLIT = "test[:24]"


def test_attributes_are_the_stored_features_by_name(synthetic_builder):
    names = datasets.label_names(synthetic_builder.info)
    model = classifier.build_model(
        backbone="tiny", num_labels=len(names), image_size=datasets.image_size(synthetic_builder)
    )
    preds = evaluate.predict_split(
        model=model, builder=synthetic_builder, split=SPLIT, batch_size=10, label_names=names
    )
    # The reference: the records read by TFDS itself, ClassLabel ids mapped by hand.
    stored = list(tfds.as_numpy(synthetic_builder.as_dataset(split=SPLIT, shuffle_files=False)))
    assert preds.known is None  # NIH's labels are all known
    np.testing.assert_array_equal(preds.labels, [ex["labels"] for ex in stored])
    np.testing.assert_array_equal(preds.image_id, [ex["image_id"].decode() for ex in stored])
    assert preds.patient_id.dtype == np.int64
    np.testing.assert_array_equal(preds.attributes["sex"], [["M", "F"][ex["sex"]] for ex in stored])
    np.testing.assert_array_equal(
        preds.attributes["view"], [["PA", "AP"][ex["view"]] for ex in stored]
    )
    ages = [np.nan if ex["age_implausible"] else float(ex["age"]) for ex in stored]
    np.testing.assert_array_equal(preds.attributes["age"], ages)
    boxes = [len(ex["bboxes"]["label"]) for ex in stored]
    assert [len(b) for b in preds.boxes] == boxes and sum(boxes) > 0
    for ex, labels in zip(stored, preds.box_labels, strict=True):
        np.testing.assert_array_equal(labels, ex["bboxes"]["label"])  # same label order
