"""Where the repository and its checked-in TFDS dummy data are."""

import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
DUMMY_DIR = ROOT / "cxr_tfds" / "cxr14_subset" / "dummy_data"
