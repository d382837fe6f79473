"""RSNA's radiologists on NIH images: what a 14-label model is scored against, and how.

The RSNA Pneumonia Detection Challenge (Shih et al., Radiology: AI 2019) gave 26,684 NIH
images one class each: `Lung Opacity` (with a box around every opacity "suspicious for
pneumonia"), `No Lung Opacity / Not Normal` or `Normal` (`cxr_tfds.cxr14_subset.rsna` reads
the files). No NIH label is that opacity, and no model output is "abnormal", so each RSNA
label is scored against stated model scores, one row per pairing (`ROWS`):

- opacity (class `Lung Opacity`) against the model's Pneumonia, Consolidation and
  Infiltration one at a time (the NIH labels a report may give such an opacity), and against
  their max (`OPACITY_MAX`): an image with any of the three is at least as likely as its most
  likely one;
- abnormal (class not `Normal`) against the max of the 14 (`ABNORMAL_MAX`): a radiograph is
  abnormal when it has any finding, so its score is that of its most likely finding.

Beside them stand NIH's labels on the same images and rows (`nih_truth`): Pneumonia,
Consolidation, Infiltration, any of the three, any of the 14 (not `No Finding`).
Saliency maps are scored against the opacity boxes as the maps of each of `BOX_LABELS`.
"""

import numpy as np

from cxr.errors import UserError
from cxr_tfds.cxr14_subset import rsna
from cxr_tfds.labels import LABELS

NAME = rsna.NAME  # the label set (`cxr evaluate --labels`, `cxr score --labels`, `--boxes`)
NORMAL = rsna.CLASSES[-1]  # "Normal": a radiologist's normal radiograph
PNEUMONIA_LIKE = ("Pneumonia", "Consolidation", "Infiltration")
OPACITY_MAX = "Opacity: max of 3"
ABNORMAL_MAX = "Abnormal: max of 14"
# Row name -> (the RSNA truth: "opacity" or "abnormal", the NIH labels whose max is the
# model's score; one label: its probability).
ROWS = {
    **{f"Opacity: {x}": ("opacity", (x,)) for x in PNEUMONIA_LIKE},
    OPACITY_MAX: ("opacity", PNEUMONIA_LIKE),
    ABNORMAL_MAX: ("abnormal", LABELS),
}
# The labels whose saliency maps are scored against each opacity box (`cxr saliency --boxes`).
BOX_LABELS = PNEUMONIA_LIKE
SOURCE = (
    "RSNA's radiologists (Pneumonia Detection Challenge; Shih et al., Radiology: AI 2019): "
    "opacity = Lung Opacity, abnormal = not Normal"
)
BOX_SOURCE = "RSNA's radiologists' opacity boxes (Shih et al., Radiology: AI 2019)"
WANG_ON_BOXES = "Wang et al.'s protocol on RSNA boxes"


def truth(cls: str) -> np.ndarray:
    """One image's (len(ROWS),) 0/1 truth from its RSNA class."""
    value = {"opacity": float(cls == rsna.OPACITY), "abnormal": float(cls != NORMAL)}
    return np.array([value[kind] for kind, _ in ROWS.values()])


def nih_truth(nih_labels) -> np.ndarray:
    """NIH's truth on the rows: (..., 14) 0/1 NIH labels in LABELS order -> (..., len(ROWS)),
    per row whether NIH gives any of the row's labels."""
    parts = np.array([[x in p for _, p in ROWS.values()] for x in LABELS], float)  # (14, R)
    return (np.asarray(nih_labels, float) @ parts > 0).astype(float)


def combined() -> dict:
    """Row name -> the NIH labels whose max is the model's score (`Reference.combined`)."""
    return {name: parts for name, (_, parts) in ROWS.items()}


def read_classes(nih_dir) -> dict:
    """{NIH image index: RSNA class} of the images RSNA's radiologists labelled.

    Raises:
        UserError: no RSNA files in `nih_dir` (saying where to put them), or a bad row.
    """
    folder = rsna.find(nih_dir)
    if folder is None:
        raise UserError(
            f"--labels {NAME} needs the RSNA Pneumonia Detection Challenge files in {nih_dir} "
            f"(or its rsna_pneumonia/ folder): stage_2_train_labels.csv and nih_crossref.csv"
        )
    try:
        found = rsna.read(folder)
    except (ValueError, OSError) as e:
        raise UserError(str(e).splitlines()[0]) from None
    return {image_id: image.cls for image_id, image in found.by_image.items()}
