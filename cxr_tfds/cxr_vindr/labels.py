"""VinDr-CXR's 14 findings in cxr's label space, and its readers fused into targets.

    raw = example["raw_labels"]             # int8 (..., 14): readers (0-3) who marked it
    labels, known = targets(raw, readers="majority")

Every image of VinDr-CXR's training set was read by 3 radiologists, each of whom either
marked findings (with boxes) or "No finding"; the builder stores per finding the number
of readers who marked it. `targets` turns that count into a label by a stated rule:
"any" (>= 1 reader), "majority" (>= 2 of the 3) or "all" (all 3). On the official test
set (consensus of 5 readers) the builder stores 3 where the consensus marked a finding
and 0 elsewhere, so every rule gives the consensus.

A finding is the NIH finding of the same name (`cxr_tfds.labels.LABELS`) where it is the
same finding (`NIH_NAMES`, with the reason in `MAPPING_REASONS`); VinDr's other findings keep
their own name, written as an identifier like NIH's "Pleural_Thickening" (spaces and "/"
as "_": a "/" would split the metric key `val/auroc/<label>`). "No finding" is not a
label: it is the absence of all 14.

Pure Python and numpy.
"""

import numpy as np

# VinDr's `class_name`s in `class_id` order (0-13), as Kaggle's train.csv spells them.
VINDR_NAMES = (
    "Aortic enlargement",
    "Atelectasis",
    "Calcification",
    "Cardiomegaly",
    "Consolidation",
    "ILD",
    "Infiltration",
    "Lung Opacity",
    "Nodule/Mass",
    "Other lesion",
    "Pleural effusion",
    "Pleural thickening",
    "Pneumothorax",
    "Pulmonary fibrosis",
)
NO_FINDING = "No finding"  # class_id 14: the reader marked none of the 14
NO_FINDING_ID = 14

# VinDr name -> NIH name, where both name the same finding.
NIH_NAMES = {
    "Atelectasis": "Atelectasis",
    "Cardiomegaly": "Cardiomegaly",
    "Consolidation": "Consolidation",
    "Infiltration": "Infiltration",
    "Pleural effusion": "Effusion",
    "Pleural thickening": "Pleural_Thickening",
    "Pneumothorax": "Pneumothorax",
    "Pulmonary fibrosis": "Fibrosis",
}

# Why each finding is, or is not, an NIH finding.
MAPPING_REASONS = {
    "Aortic enlargement": "no NIH finding: NIH has no aortic label; kept as Aortic_enlargement",
    "Atelectasis": "the same radiological finding and word as NIH's Atelectasis",
    "Calcification": "no NIH finding: NIH has no calcification label; kept",
    "Cardiomegaly": "the same finding and word as NIH's Cardiomegaly",
    "Consolidation": "the same finding and word as NIH's Consolidation",
    "ILD": "kept: interstitial lung disease is a pattern wider than NIH's Fibrosis "
    "(VinDr labels Pulmonary fibrosis separately)",
    "Infiltration": "the same word as NIH's Infiltration (both datasets use the older term)",
    "Lung Opacity": "kept as Lung_Opacity: any lung opacity, wider than every NIH finding",
    "Nodule/Mass": "kept as Nodule_Mass: NIH splits Nodule (< 3 cm) from Mass, and one "
    "combined label cannot be either",
    "Other lesion": "kept as Other_lesion: a catch-all with no NIH counterpart",
    "Pleural effusion": "NIH's Effusion is pleural effusion (NIH's only effusion label)",
    "Pleural thickening": "the same finding as NIH's Pleural_Thickening",
    "Pneumothorax": "the same finding and word as NIH's Pneumothorax",
    "Pulmonary fibrosis": "NIH's Fibrosis is pulmonary fibrosis",
}


def _own_name(vindr_name: str) -> str:
    return vindr_name.replace("/", "_").replace(" ", "_")


# The label names, in VinDr's class_id order: `raw_labels[..., k]` is LABEL_NAMES[k].
LABEL_NAMES = tuple(NIH_NAMES.get(name) or _own_name(name) for name in VINDR_NAMES)

# Readers (of 3) who must have marked a finding for it to be positive, per rule.
READER_RULES = {"any": 1, "majority": 2, "all": 3}


def targets(raw, readers: str = "majority") -> tuple[np.ndarray, np.ndarray]:
    """Labels and known mask of raw reader counts, elementwise.

    Args:
        raw: int array (..., 14): readers who marked each finding (0-3). A negative code
            is no reader count (VinDr stores none): it is unknown.
        readers: "any" (>= 1), "majority" (>= 2) or "all" (3 readers).

    Returns:
        (labels uint8, known uint8), both shaped like `raw`. Every finding of an image is
        known: each reader answered all 14 (a mark, or "No finding").

    Raises:
        ValueError: for a rule other than those of `READER_RULES`.
    """
    if readers not in READER_RULES:
        raise ValueError(
            f"readers={readers!r}: VinDr's reader rule is one of {', '.join(READER_RULES)}"
        )
    raw = np.asarray(raw)
    known = raw >= 0
    labels = known & (raw >= READER_RULES[readers])
    return labels.astype(np.uint8), known.astype(np.uint8)
