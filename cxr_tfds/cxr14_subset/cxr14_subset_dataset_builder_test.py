"""TFDS's own builder checks on the hand-made manual dirs in dummy_data/.

dummy_data/ (see make_dummy_data.py) holds both CSV formats, the three image
layouts, an RGBA, a 16-bit, a 48x40, a truncated, an empty and a JPEG-named-PNG
file, an image in neither list and one missing from the CSV. The expected
counts below are the images that survive all of that.
"""

import tensorflow_datasets as tfds

from cxr_tfds.cxr14_subset import cxr14_subset_dataset_builder

DUMMY = cxr14_subset_dataset_builder.Cxr14Subset.code_path.parent / "dummy_data"


class AllViewsTest(tfds.testing.DatasetBuilderTestCase):
    """v2020 CSV (preferred over the 2017 one beside it), all layouts."""

    DATASET_CLASS = cxr14_subset_dataset_builder.Cxr14Subset
    BUILDER_CONFIG_NAMES_TO_TEST = ["224"]
    SPLITS = {"train": 6, "validation": 1, "test": 3}


class PaOnlyTest(AllViewsTest):
    BUILDER_CONFIG_NAMES_TO_TEST = ["pa_224"]
    SPLITS = {"train": 5, "validation": 1, "test": 2}


class DownloadedArchiveTest(AllViewsTest):
    """The download config, with TFDS's download mocked to a local archive."""

    BUILDER_CONFIG_NAMES_TO_TEST = ["nih001_224"]
    DL_DOWNLOAD_RESULT = {"images_001": "downloads/images_001.tar.gz"}
    # NIH publishes no checksums; users record them with `tfds build --register_checksums`.
    SKIP_CHECKSUMS = True
    SPLITS = {"train": 7, "validation": 2, "test": 3}


class Kaggle2017Test(AllViewsTest):
    """Only the older CRLF, zero-padded Data_Entry_2017.csv, in Kaggle's layout."""

    EXAMPLE_DIR = DUMMY / "kaggle_2017"
    SPLITS = {"train": 1, "validation": 1, "test": 1}


if __name__ == "__main__":
    tfds.testing.test_main()
