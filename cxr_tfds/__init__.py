"""TensorFlow Datasets builders of cxr. Importing this package registers `cxr14_subset`."""

from cxr_tfds.cxr14_subset.cxr14_subset_dataset_builder import Cxr14Subset
from cxr_tfds.labels import LABELS

__all__ = ["LABELS", "Cxr14Subset"]
