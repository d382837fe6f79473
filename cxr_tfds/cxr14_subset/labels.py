"""cxr14_subset's labels in the shared label space: NIH's 14 names, all known.

NIH's `Finding Labels` name every finding of an image that the text mining found; a
finding it does not name is negative, so every label of every image is known. `targets`
is the identity on the stored multi-hot `labels` (the registry's contract, shared with
the builders that store raw codes).
"""

import numpy as np

from cxr_tfds.labels import LABELS

LABEL_NAMES = LABELS
# Why each finding has its name (docs/data.md's dataset x finding table): NIH's own.
MAPPING_REASONS = {
    name: "NIH's own label, text-mined from the report (Wang et al. 2017); the names "
    "every other dataset is mapped to"
    for name in LABEL_NAMES
}


def targets(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels uint8, known uint8) of multi-hot `raw` [..., 14]: `raw` itself, all known."""
    raw = np.asarray(raw)
    return raw.astype(np.uint8), np.ones(raw.shape, np.uint8)
