"""Every registered dataset keeps the registry's contract (timm style: one test, every entry)."""

import importlib

import numpy as np
import pytest

from cxr_tfds import label_table, registry
from tests.helpers.paths import ROOT


@pytest.mark.parametrize("name", registry.names())
def test_targets_are_elementwise_per_label(name):
    """`targets` on any array of raw codes equals the per-code table gathered per label,
    which is what `cxr.data.label_space` builds inside tf.data."""
    entry = registry.get(name)
    width = len(entry.label_names)
    assert len(set(entry.label_names)) == width
    assert all(" " not in n and "/" not in n for n in entry.label_names)  # metric keys
    codes = np.array([0, 1] if entry.label_feature == "labels" else registry.RAW_CODES, np.int8)
    table_labels, table_known = entry.targets(np.repeat(codes[:, None], width, axis=1))
    raw = np.random.default_rng(0).choice(codes, size=(3, 5, width))
    labels, known = entry.targets(raw)
    assert labels.dtype == known.dtype == np.uint8 and labels.shape == raw.shape
    assert set(np.unique(labels)) <= {0, 1} and set(np.unique(known)) <= {0, 1}
    rows = np.searchsorted(codes, raw)
    columns = np.arange(width)
    np.testing.assert_array_equal(labels, table_labels[rows, columns])
    np.testing.assert_array_equal(known, table_known[rows, columns])


@pytest.mark.parametrize("name", registry.names())
def test_an_entry_names_a_pure_labels_module_and_takes_only_its_policies(name):
    entry = registry.get(name)
    module = importlib.import_module(entry.labels_module)
    assert tuple(module.LABEL_NAMES) == entry.label_names
    assert entry.label_feature in ("labels", "raw_labels")
    assert set(entry.attributes) <= {"sex", "age", "view"}
    with pytest.raises(ValueError, match="takes no policy"):
        entry.targets(np.zeros((1, len(entry.label_names)), np.int8), no_such_policy=1)


def test_cxr14_subset_is_the_identity_on_nih_labels():
    entry = registry.get("cxr14_subset/224")
    multi_hot = np.array([[1, 0] * 7, [0, 1] * 7], np.uint8)
    labels, known = entry.targets(multi_hot)
    np.testing.assert_array_equal(labels, multi_hot)
    assert known.all()


def test_unknown_and_twice_registered_names_are_refused():
    with pytest.raises(KeyError, match="registered: cxr14_subset"):
        registry.get("chexpert")
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("cxr14_subset", "cxr_tfds.cxr14_subset.labels")
    with pytest.raises(ValueError, match="no field"):
        registry.register("cxr_new", "cxr_tfds.cxr14_subset.labels", patient="x")


def test_docs_hold_the_dataset_by_finding_table_of_the_labels_modules():
    """docs/data.md's table is `python -m cxr_tfds.label_table`'s, so a mapping or its reason
    changes in one place (the labels module) and the test says when the docs lag."""
    docs = (ROOT / "docs" / "data.md").read_text()
    start, end = docs.index(label_table.BEGIN), docs.index(label_table.END)
    assert docs[start : end + len(label_table.END)] == label_table.markdown()
    for name in registry.names():  # one reason per finding, every finding in the table
        assert set(label_table.reasons(name)) == set(registry.get(name).label_names)
        assert set(registry.get(name).label_names) <= set(label_table.findings())
