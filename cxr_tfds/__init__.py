"""TensorFlow Datasets builders of cxr.

Importing this package is cheap (no TensorFlow): `cxr_tfds.labels` is pure Python.
`import cxr_tfds.builders` (or the attribute `cxr_tfds.Cxr14Subset`) registers every
builder (`cxr14_subset`) with TFDS.
"""

from cxr_tfds.labels import LABELS

__all__ = ["LABELS", "Cxr14Subset"]


def __getattr__(name):
    if name == "Cxr14Subset":  # registers the builder with TFDS on first use
        from cxr_tfds.cxr14_subset.cxr14_subset_dataset_builder import Cxr14Subset

        return Cxr14Subset
    raise AttributeError(f"module 'cxr_tfds' has no attribute {name!r}")
