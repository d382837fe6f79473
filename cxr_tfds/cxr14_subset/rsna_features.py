"""RSNA's labels as the `cxr14_subset` feature "rsna": its spec, one image's values, the build log.

The labels themselves are read by `rsna` (pure Python); this module is the TFDS side.
The feature: {"class": ClassLabel(["absent", *rsna.CLASSES]), "boxes": Sequence(BBoxFeature)};
"absent" (and no box) where an image has no RSNA label, or the NIH folder has no RSNA files.
Boxes are normalised to [0, 1] of the 1024-px frame, so they fit any config's size; none is
clipped (`rsna.read` refuses a box outside the frame), so one touching an edge stays exact.
"""

import numpy as np
import tensorflow_datasets as tfds
from absl import logging

from cxr_tfds.cxr14_subset import rsna

NAME = rsna.NAME  # the feature's key (one owner: the pure rsna.py)
ABSENT = "absent"  # the class of an image RSNA did not label
CLASS_NAMES = (ABSENT, *rsna.CLASSES)


def features() -> dict:
    """{"rsna": its FeaturesDict}."""
    return {
        NAME: tfds.features.FeaturesDict(
            {
                "class": tfds.features.ClassLabel(names=list(CLASS_NAMES)),
                "boxes": tfds.features.Sequence(tfds.features.BBoxFeature()),
            }
        )
    }


def read(root) -> rsna.RsnaLabels | None:
    """RSNA's labels in the NIH folder `root`, or None when it has no RSNA files."""
    return rsna.read(root) if rsna.find(root) is not None else None


def example(labels: rsna.RsnaLabels | None, image_id: str) -> dict:
    """One image's "rsna" values: its class and normalised boxes, or "absent" and none."""
    image = labels.by_image.get(image_id) if labels is not None else None
    if image is None:
        return {NAME: {"class": ABSENT, "boxes": np.zeros((0, 4), np.float32)}}
    return {NAME: {"class": image.cls, "boxes": [normalised(box) for box in image.boxes]}}


def normalised(box) -> tfds.features.BBox:
    """An (x, y, width, height) box in 1024-px pixels as a TFDS BBox in [0, 1], unclipped."""
    x, y, w, h = (float(v) / rsna.FRAME for v in box)
    return tfds.features.BBox(ymin=y, xmin=x, ymax=y + h, xmax=x + w)


def log_counts(labels: rsna.RsnaLabels | None, planned: dict, entries: dict, root) -> None:
    """Says what RSNA's files held (kept, non-matches, duplicates, per class, boxes) and how
    many labelled images and boxes each split of this build gets, per class."""
    if labels is None:
        logging.info("cxr14_subset: no RSNA files (%s) in %s: rsna absent", rsna.FOLDER, root)
        return
    counts = labels.counts
    logging.info(
        "cxr14_subset: rsna: read %s: %d matches kept (mse <= %d), %d non-matches dropped, "
        "%d duplicate matches kept once, %d conflicting duplicates dropped; %s; %d boxes; %d "
        "kept images are not in NIH's CSV",
        labels.folder,
        counts["matches_kept"],
        rsna.MAX_MSE,
        counts["non_matches"],
        counts["duplicate_matches"],
        counts["duplicate_conflicts"],
        ", ".join(f"{cls}: {n}" for cls, n in counts["images_per_class"].items()),
        counts["boxes"],
        sum(image_id not in entries for image_id in labels.by_image),
    )
    for split, names in planned.items():
        found = [labels.by_image[n] for n in names if n in labels.by_image]
        per_class = {cls: sum(image.cls == cls for image in found) for cls in rsna.CLASSES}
        logging.info(
            "cxr14_subset: rsna: %s: %d of its %d images labelled (%s), %d boxes",
            split,
            len(found),
            len(names),
            ", ".join(f"{cls}: {n}" for cls, n in per_class.items()),
            sum(len(image.boxes) for image in found),
        )
