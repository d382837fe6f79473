"""SIIM-ACR Pneumothorax's one label, in the shared label space (pure numpy).

SIIM's finding is NIH's `Pneumothorax` (cxr_tfds.labels.LABELS): the same finding,
so the same name. Its raw code ("raw_labels", int8) is 1 where the image has a
pneumothorax mask and 0 where its row is `-1`; every image is annotated, so every
label is known. There is no policy to choose.
"""

import numpy as np

from cxr_tfds.labels import LABELS

LABEL_NAMES = ("Pneumothorax",)
assert set(LABEL_NAMES) <= set(LABELS)  # NIH's name, so models match it by name

# Why each label maps where it does (read into docs/data.md's dataset x finding table).
MAPPING_REASONS = {
    "Pneumothorax": "the competition's only finding, NIH's Pneumothorax: the same finding "
    "(masks drawn on NIH ChestX-ray14 images)",
}


def targets(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels, known), both uint8 of `raw`'s shape [..., 1]: positive where raw == 1.

    Elementwise: codes other than 1 and 0 (the shared space's -2..3) are unknown, so
    a lookup table built over [-2, 3] holds no guess.

    Args:
        raw: SIIM's raw codes, 1 (pneumothorax) or 0 (none).
    """
    raw = np.asarray(raw)
    return (raw == 1).astype(np.uint8), np.isin(raw, (0, 1)).astype(np.uint8)
