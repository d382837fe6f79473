"""A model's labels and a dataset's are matched by name; what only one has is listed."""

import pytest

from cxr.errors import UserError
from cxr.pipeline import label_match
from cxr_tfds.labels import LABELS

VINDR_LIKE = ("Aortic_enlargement", "Atelectasis", "Cardiomegaly", "Nodule_Mass", "Effusion")


def test_shared_findings_in_the_models_order_with_both_columns():
    match = label_match.match(LABELS, VINDR_LIKE)
    assert match.shared == ("Atelectasis", "Cardiomegaly", "Effusion")
    assert [LABELS[k] for k in match.model_columns] == list(match.shared)
    assert [VINDR_LIKE[k] for k in match.data_columns] == list(match.shared)
    assert match.not_predicted == ("Aortic_enlargement", "Nodule_Mass")  # listed, not guessed
    assert set(match.not_labelled) == set(LABELS) - set(VINDR_LIKE)
    assert not match.identical
    assert "not predicted by the model: Aortic_enlargement, Nodule_Mass" in match.text("vindr")


def test_the_same_labels_are_identical_and_disjoint_ones_refused():
    assert label_match.match(LABELS, LABELS).identical
    assert not label_match.match(LABELS, tuple(reversed(LABELS))).identical
    with pytest.raises(UserError, match="no finding in common"):
        label_match.match(LABELS, ("Lung_Opacity", "Aortic_enlargement"), dataset="x/64")
