"""Published NIH ChestX-ray14 results to set ours beside: per-label test AUROCs and localization.

AUROCs. Source: Rajpurkar et al. 2017, "CheXNet: Radiologist-Level Pneumonia
Detection on Chest X-Rays with Deep Learning", arXiv:1711.05225 (v3), Table 2,
columns "CheXNet (ours)" and "Wang et al. (2017)". The Wang et al. column is
CheXNet's reprint, not a number read from Wang et al.'s paper; it differs from
the ChestX-ray14 AUROCs that Wang et al.'s arXiv v5 prints in its Table 17 (e.g.
Atelectasis 0.716 here, 0.7003 there).

Comparability: CheXNet tested on its own split ("We randomly split the dataset
into training (70%), validation (10%), and test (20%) sets", CheXNet, Section 5,
with no patient overlap), not on NIH's official `test_list.txt`. The test sets
differ, so CheXNet's numbers are not directly comparable with ours on the
official list.

Localization. Source: Wang et al. 2017, "ChestX-ray8: Hospital-scale Chest X-ray
Database and Benchmarks on Weakly-Supervised Classification and Localization of
Common Thorax Diseases", CVPR 2017, arXiv:1705.02315 (v5): the accuracy ("Acc.")
and average number of false positives ("AFP") per label at T(IoBB) = 0.1 ... 0.9,

- Table 4 (CVPR paper): ChestX-ray8, 8 labels, their random 70/10/20 image split;
- Table 19 (arXiv v5, Appendix B): ChestX-ray14 with the published split, the
  same 8 labels and boxes ("the annotated B-Boxes of pathologies are unchanged").

Table 19 is the comparison for NIH's official test list; `cxr.saliency.localization` scores
the class activation map by their protocol, each threshold level (60, 180) alone, since
the paper does not say how its one number per T combines them (docs/protocols.md, "Localization after Wang et al. 2017, step by step").
"""

from cxr_tfds.labels import LABELS

# NIH's test_list.txt: the official test split, both views.
OFFICIAL_TEST_IMAGES = 25_596

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

# --- Wang et al. 2017 localization -------------------------------------------------------

# The T(IoBB) rows of both tables, and their label columns in the paper's order.
WANG_IOBB_THRESHOLDS = (0.1, 0.25, 0.5, 0.75, 0.9)
WANG_LOCALIZATION_LABELS = (
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
)
# Boxes per label in NIH's BBox_List_2017.csv (984 in all). Every accuracy of both
# tables is a whole number of these boxes (e.g. Atelectasis 0.7277 = 131/180), and
# every AFP a whole number of false positives over all 984 (e.g. Cardiomegaly 0.3506
# = 345/984, whereas 146 Cardiomegaly boxes would give 51/146 = 0.3493 or 52/146 =
# 0.3562): Wang et al. divide each label's false positives by every box scored.
NIH_BOXES = {
    "Atelectasis": 180,
    "Cardiomegaly": 146,
    "Effusion": 153,
    "Infiltration": 123,
    "Mass": 85,
    "Nodule": 79,
    "Pneumonia": 120,
    "Pneumothorax": 98,
}

# As printed: one row per T(IoBB), one column per label of WANG_LOCALIZATION_LABELS.
_TABLE_4_ACC = (
    (0.7277, 0.9931, 0.7124, 0.7886, 0.4352, 0.1645, 0.7500, 0.4591),
    (0.5500, 0.9794, 0.5424, 0.5772, 0.2823, 0.0506, 0.5583, 0.3469),
    (0.2833, 0.8767, 0.3333, 0.4227, 0.1411, 0.0126, 0.3833, 0.1836),
    (0.1666, 0.7260, 0.2418, 0.3252, 0.1176, 0.0126, 0.2583, 0.1020),
    (0.1333, 0.6849, 0.2091, 0.2520, 0.0588, 0.0126, 0.2416, 0.0816),
)
_TABLE_4_AFP = (
    (0.8323, 0.3506, 0.7998, 0.5589, 0.6423, 0.6047, 0.9055, 0.4776),
    (0.9167, 0.4553, 0.8598, 0.6077, 0.6707, 0.6158, 0.9614, 0.5000),
    (1.0203, 0.5630, 0.9268, 0.6585, 0.6941, 0.6189, 1.0132, 0.5285),
    (1.0619, 0.6616, 0.9603, 0.6921, 0.7043, 0.6199, 1.0569, 0.5396),
    (1.0752, 0.7226, 0.9797, 0.7124, 0.7144, 0.6199, 1.0732, 0.5437),
)
_TABLE_19_ACC = (
    (0.6222, 1.0000, 0.7974, 0.9106, 0.5882, 0.1519, 0.8583, 0.5204),
    (0.3944, 0.9863, 0.6339, 0.7967, 0.4588, 0.0506, 0.7083, 0.3367),
    (0.1944, 0.9452, 0.4183, 0.6504, 0.3058, 0.0000, 0.4833, 0.2653),
    (0.0889, 0.8151, 0.2287, 0.4390, 0.1647, 0.0000, 0.2917, 0.1735),
    (0.0722, 0.6507, 0.1373, 0.3577, 0.0941, 0.0000, 0.2333, 0.1224),
)
_TABLE_19_AFP = (
    (0.8293, 0.1768, 0.6148, 0.4919, 0.3933, 0.4685, 0.4360, 0.4543),
    (0.9319, 0.2042, 0.6880, 0.5447, 0.4288, 0.4786, 0.4959, 0.4857),
    (0.9979, 0.2785, 0.7652, 0.6006, 0.4604, 0.4827, 0.5630, 0.5030),
    (1.0285, 0.4045, 0.8222, 0.6697, 0.4827, 0.4827, 0.6169, 0.5243),
    (1.0356, 0.4837, 0.8445, 0.7043, 0.4939, 0.4827, 0.6331, 0.5346),
)


def _by_label(rows):
    """Printed rows (per T) -> {label: tuple over WANG_IOBB_THRESHOLDS}."""
    if any(label not in LABELS for label in WANG_LOCALIZATION_LABELS):
        raise ValueError(f"Wang et al.'s labels are not all in LABELS: {WANG_LOCALIZATION_LABELS}")
    return {
        label: tuple(row[i] for row in rows) for i, label in enumerate(WANG_LOCALIZATION_LABELS)
    }


# Table name -> {"accuracy" | "afp": {label: one value per T(IoBB)}}; the names head report columns.
WANG_LOCALIZATION = {
    "Table 19 (ChestX-ray14)": {
        "accuracy": _by_label(_TABLE_19_ACC),
        "afp": _by_label(_TABLE_19_AFP),
    },
    "Table 4 (ChestX-ray8)": {"accuracy": _by_label(_TABLE_4_ACC), "afp": _by_label(_TABLE_4_AFP)},
}
