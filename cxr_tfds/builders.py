"""`import cxr_tfds.builders` registers every builder of cxr with TFDS.

    import cxr_tfds.builders
    ds = tfds.load("cxr14_subset/synthetic", split="test")

It imports TensorFlow Datasets (and so TensorFlow); `import cxr_tfds` and
`cxr_tfds.labels` stay free of both.
"""

from cxr_tfds.cxr14_subset.cxr14_subset_dataset_builder import Cxr14Subset
from cxr_tfds.cxr_chexpert.cxr_chexpert_dataset_builder import CxrChexpert
from cxr_tfds.cxr_siim.cxr_siim_dataset_builder import CxrSiim
from cxr_tfds.cxr_vindr.cxr_vindr_dataset_builder import CxrVindr

__all__ = ["Cxr14Subset", "CxrChexpert", "CxrSiim", "CxrVindr"]
