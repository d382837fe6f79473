"""The 14 ChestX-ray14 pathology labels, defined once for the whole project.

Source: the `Finding Labels` column of NIH's `Data_Entry_2017_v2020.csv`
(Wang et al., "ChestX-ray8", CVPR 2017). Sorted alphabetically; this order is
the order of every multi-hot vector, logit and metric in cxr.
"""

LABELS = (
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Effusion",
    "Emphysema",
    "Fibrosis",
    "Hernia",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pleural_Thickening",
    "Pneumonia",
    "Pneumothorax",
)

# `Finding Labels` of an image with none of the 14 pathologies.
NO_FINDING = "No Finding"

# NIH's BBox_List_2017.csv spells one finding differently from the Data_Entry CSV.
BBOX_LABEL_ALIASES = {"Infiltrate": "Infiltration"}
