"""CheXpert's 14 observations in cxr's label space, and its uncertainty and blank policies.

Pure numpy. CheXpert (Irvin et al., AAAI 2019) labels each image per observation as
1 (positive), 0 (negative), -1 (uncertain) or blank (not mentioned in the report); the
builder stores these as `raw_labels` int8 codes, blank as -2 (`BLANK`). `targets` turns
codes into (labels, known) under a stated policy; docs/protocols.md ("CheXpert's
uncertainty policies") quotes the paper's definitions, step by step.
"""

import numpy as np

# CheXpert's 14 observation columns, in its CSV's order (the order of `raw_labels`).
CHEXPERT_COLUMNS = (
    "No Finding",
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
)

# CheXpert column -> (name in cxr's label space, why). NIH's name (cxr_tfds/labels.py)
# where it is the same finding; CheXpert's own name where it is not, written as an
# identifier as NIH's Pleural_Thickening is (names become metric keys: val/auroc/<name>).
MAPPING = {
    "No Finding": (
        "No_Finding",
        "not a finding: CheXpert's 'no pathology positive or "
        "uncertain' (support devices aside); NIH's 'No Finding' is no label",
    ),
    "Enlarged Cardiomediastinum": (
        "Enlarged_Cardiomediastinum",
        "no NIH label: the mediastinum as well as the heart; wider than Cardiomegaly",
    ),
    "Cardiomegaly": ("Cardiomegaly", "the same finding, the same name"),
    "Lung Opacity": (
        "Lung_Opacity",
        "no NIH label: any lung opacity, wider than each of "
        "Edema, Consolidation, Pneumonia, Atelectasis and a lesion",
    ),
    "Lung Lesion": (
        "Lung_Lesion",
        "not NIH's Mass nor Nodule: CheXpert's lesion covers "
        "both (and more), so it matches neither one",
    ),
    "Edema": ("Edema", "the same finding, the same name"),
    "Consolidation": ("Consolidation", "the same finding, the same name"),
    "Pneumonia": ("Pneumonia", "the same finding (a clinical diagnosis in both label sets)"),
    "Atelectasis": ("Atelectasis", "the same finding, the same name"),
    "Pneumothorax": ("Pneumothorax", "the same finding, the same name"),
    "Pleural Effusion": ("Effusion", "the same finding: NIH's Effusion is a pleural effusion"),
    "Pleural Other": (
        "Pleural_Other",
        "not NIH's Pleural_Thickening: it groups the pleural findings "
        "other than effusion (thickening among them), so it is wider",
    ),
    "Fracture": ("Fracture", "no NIH label"),
    "Support Devices": ("Support_Devices", "no NIH label: tubes, lines and devices"),
}
LABEL_NAMES = tuple(MAPPING[column][0] for column in CHEXPERT_COLUMNS)
MAPPING_REASONS = {MAPPING[c][0]: f"CheXpert '{c}': {MAPPING[c][1]}" for c in CHEXPERT_COLUMNS}

# raw_labels codes (the shared contract: CheXpert's own values, blank as -2).
POSITIVE, NEGATIVE, UNCERTAIN, BLANK = 1, 0, -1, -2
CSV_CODES = {"1.0": POSITIVE, "0.0": NEGATIVE, "-1.0": UNCERTAIN, "": BLANK}

# The paper's validation AUROCs of the label-map approaches, per competition label:
# Irvin et al. 2019, the table of uncertainty approaches (arXiv:1901.07031v1, Table 3;
# 200 studies, 3 radiologists' consensus). Its U-SelfTrained and U-MultiClass rows are
# training procedures, not label maps, so they are not offered here.
PAPER_VALIDATION_AUROC = {
    "Atelectasis": {"u_ignore": 0.818, "u_zeros": 0.811, "u_ones": 0.858},
    "Cardiomegaly": {"u_ignore": 0.828, "u_zeros": 0.840, "u_ones": 0.832},
    "Consolidation": {"u_ignore": 0.938, "u_zeros": 0.932, "u_ones": 0.899},
    "Edema": {"u_ignore": 0.934, "u_zeros": 0.929, "u_ones": 0.941},
    "Effusion": {"u_ignore": 0.928, "u_zeros": 0.931, "u_ones": 0.934},
}
UNCERTAIN_POLICIES = ("u_ignore", "u_zeros", "u_ones")
# "paper_best": per competition label, the better of U-Zeros and U-Ones in that table
# (the two binary mappings the paper compares); U-Ignore for the 9 labels it does not test.
PAPER_BEST = {
    name: max(("u_zeros", "u_ones"), key=PAPER_VALIDATION_AUROC[name].get)
    for name in PAPER_VALIDATION_AUROC
}
PAPER_BEST_DEFAULT = "u_ignore"
BLANK_POLICIES = ("negative", "unknown")

# (label, known) of an uncertain code per policy, and of a blank per blank policy.
_UNCERTAIN = {"u_ignore": (0, 0), "u_zeros": (0, 1), "u_ones": (1, 1)}
_BLANK = {"negative": (0, 1), "unknown": (0, 0)}


def uncertain_policies(uncertain="u_ignore") -> tuple[str, ...]:
    """The u_* policy of each label, in `LABEL_NAMES` order.

    Args:
        uncertain: "u_ignore", "u_zeros", "u_ones", "paper_best", or a dict from a label
            (cxr's name or CheXpert's column) to one of the u_* policies; labels the
            dict leaves out get "u_ignore".

    Raises:
        ValueError: an unknown policy or label, named.
    """
    if isinstance(uncertain, dict):
        by_name = {_label_name(label): _checked(policy) for label, policy in uncertain.items()}
        return tuple(by_name.get(name, "u_ignore") for name in LABEL_NAMES)
    if uncertain == "paper_best":
        return tuple(PAPER_BEST.get(name, PAPER_BEST_DEFAULT) for name in LABEL_NAMES)
    return (_checked(uncertain),) * len(LABEL_NAMES)


def targets(raw, uncertain="u_ignore", blank="negative") -> tuple[np.ndarray, np.ndarray]:
    """(labels, known), both uint8 [..., 14], of CheXpert codes `raw` [..., 14].

    Elementwise per label: positive -> (1, 1); negative -> (0, 1); uncertain -> the
    label's `uncertain` policy: U-Ignore (0, 0) unknown, U-Zeros (0, 1), U-Ones (1, 1);
    blank -> (0, 1) for blank="negative", (0, 0) for "unknown". Any other code (none
    occurs in CheXpert; the label-space table asks for all of [-2, 3]) is unknown.

    Args:
        raw: int codes (1, 0, -1, -2) with the 14 labels on the last axis.
        uncertain: see `uncertain_policies`.
        blank: "negative" or "unknown".

    Raises:
        ValueError: an unknown policy or label, or a last axis other than 14.
    """
    raw = np.asarray(raw)
    if raw.shape[-1:] != (len(LABEL_NAMES),):
        raise ValueError(
            f"CheXpert codes need {len(LABEL_NAMES)} labels on the last axis, not shape {raw.shape}"
        )
    if blank not in _BLANK:
        raise ValueError(f"blank policy {blank!r}: use one of {', '.join(BLANK_POLICIES)}")
    per_label = np.array([_UNCERTAIN[p] for p in uncertain_policies(uncertain)], np.uint8)
    labels = np.zeros(raw.shape, np.uint8)
    known = np.zeros(raw.shape, np.uint8)
    for code, label, is_known in (
        (POSITIVE, 1, 1),
        (NEGATIVE, 0, 1),
        (UNCERTAIN, per_label[:, 0], per_label[:, 1]),
        (BLANK, *_BLANK[blank]),
    ):
        where = raw == code
        labels = np.where(where, label, labels).astype(np.uint8)
        known = np.where(where, is_known, known).astype(np.uint8)
    return labels, known


def _checked(policy) -> str:
    if policy not in _UNCERTAIN:
        raise ValueError(
            f"uncertainty policy {policy!r}: use one of {', '.join(UNCERTAIN_POLICIES)}, "
            "'paper_best' or a dict label -> policy"
        )
    return policy


def _label_name(label: str) -> str:
    """cxr's name of `label`, given as cxr's name or CheXpert's column."""
    if label in LABEL_NAMES:
        return label
    if label in MAPPING:
        return MAPPING[label][0]
    raise ValueError(f"no CheXpert label {label!r}; labels: {', '.join(LABEL_NAMES)}")
