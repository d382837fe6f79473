"""Published per-label test AUROCs on NIH ChestX-ray14, to set our results beside.

Source: Rajpurkar et al. 2017, "CheXNet: Radiologist-Level Pneumonia Detection
on Chest X-Rays with Deep Learning", arXiv:1711.05225 (v3), Table 2, columns
"CheXNet (ours)" and "Wang et al. (2017)". The Wang et al. column is CheXNet's
reprint of "ChestX-ray8: Hospital-scale Chest X-ray Database and Benchmarks on
Weakly-Supervised Classification and Localization of Common Thorax Diseases"
(CVPR 2017, arXiv:1705.02315), not a number read from that paper itself.

Caveat on comparability: CheXNet's Table 2 was measured on CheXNet's own random
70/10/20 patient split (as its reimplementations, e.g. arnoweng/CheXNet, note),
not on NIH's official `test_list.txt`; the two test sets differ, so a gap of a
point or two is within what the split alone can explain.
"""

from cxr_tfds.labels import LABELS

# The table as printed (paper order and spelling: "Pleural Thickening" with a space).
_CHEXNET_TABLE = {
    "Atelectasis": 0.8094,
    "Cardiomegaly": 0.9248,
    "Effusion": 0.8638,
    "Infiltration": 0.7345,
    "Mass": 0.8676,
    "Nodule": 0.7802,
    "Pneumonia": 0.7680,
    "Pneumothorax": 0.8887,
    "Consolidation": 0.7901,
    "Edema": 0.8878,
    "Emphysema": 0.9371,
    "Fibrosis": 0.8047,
    "Pleural Thickening": 0.8062,
    "Hernia": 0.9164,
}
_WANG_TABLE = {
    "Atelectasis": 0.716,
    "Cardiomegaly": 0.807,
    "Effusion": 0.784,
    "Infiltration": 0.609,
    "Mass": 0.706,
    "Nodule": 0.671,
    "Pneumonia": 0.633,
    "Pneumothorax": 0.806,
    "Consolidation": 0.708,
    "Edema": 0.835,
    "Emphysema": 0.815,
    "Fibrosis": 0.769,
    "Pleural Thickening": 0.708,
    "Hernia": 0.767,
}


def _to_labels(table):
    """Re-keys a paper table by our label names, in `LABELS` order."""
    by_label = {name.replace(" ", "_"): value for name, value in table.items()}
    if set(by_label) != set(LABELS):
        raise ValueError(f"Published table does not cover LABELS: {sorted(by_label)}")
    return {label: by_label[label] for label in LABELS}


CHEXNET = _to_labels(_CHEXNET_TABLE)
WANG_2017 = _to_labels(_WANG_TABLE)

# Model name -> {label -> AUROC}; the names are the column titles of reports.
PUBLISHED = {"CheXNet": CHEXNET, "Wang et al. 2017": WANG_2017}

# Macro (unweighted mean over the 14 labels) AUROC of each model, derived here
# rather than copied; CheXNet's comes out at 0.841, as usually quoted.
PUBLISHED_MACRO = {name: sum(table.values()) / len(table) for name, table in PUBLISHED.items()}
