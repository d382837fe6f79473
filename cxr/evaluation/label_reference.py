"""The labels a predictions CSV is scored against: NIH's, or Google's radiologists'.

NIH's come from its Data_Entry CSV; Google's (`cxr_tfds.cxr14_subset.expert_labels`) from
their folders beside it. Google's four-findings set scores Pneumothorax as NIH's label, and
Nodule or mass as the model's max(Nodule, Mass); Fracture and Airspace opacity have no NIH
label and are left out.
"""

import dataclasses
import pathlib

import numpy as np

from cxr.errors import UserError
from cxr_tfds.cxr14_subset import expert_labels, metadata, sources
from cxr_tfds.labels import LABELS

LABEL_SETS = ("nih", expert_labels.ALL_FINDINGS, expert_labels.FOUR_FINDINGS)
# What each label set is, for titles, JSON and W&B.
SOURCES = {
    "nih": "NIH's labels (text-mined from the reports; Data_Entry_2017_v2020.csv)",
    expert_labels.ALL_FINDINGS: "Google's radiologist labels, all findings (majority of 3 "
    "radiologists; Nabulsi et al., Sci Rep 2021)",
    expert_labels.FOUR_FINDINGS: "Google's radiologist labels, four findings (adjudicated by 3 "
    "radiologists; Majkowska et al., Radiology 2019)",
}
# An expert finding that no single NIH label is, scored as the max of the NIH labels it joins:
# the model's probability of either finding is at least the larger of the two.
COMBINED = {"Nodule or mass": ("Nodule", "Mass")}


@dataclasses.dataclass
class Reference:
    """The labels a set gives: patients, image lists and {image: label vector}.

    Attributes:
        name: the label set (`LABEL_SETS`).
        label_names: the labels the set can score: NIH labels in LABELS order, then the
            findings in `combined`.
        labels: image id -> float (len(label_names),) 0/1 vector, for the labelled images.
        patients: image id -> NIH patient id, every image NIH lists.
        test: NIH's official test images; train_val: the other list.
        combined: finding -> the NIH labels whose max scores it (`COMBINED`).
        left_out: the set's findings that no NIH label scores.
    """

    name: str
    label_names: tuple
    labels: dict
    patients: dict
    test: set
    train_val: set
    combined: dict = dataclasses.field(default_factory=dict)
    left_out: tuple = ()


def load_reference(nih_dir, label_set: str) -> Reference:
    """Reads NIH's files in `nih_dir` and, for an expert set, Google's folder beside them.

    Raises:
        UserError: a missing folder or file (saying where to put it), or a bad row.
    """
    nih_dir = pathlib.Path(nih_dir)
    entry_file = metadata.find_data_entry(nih_dir) if nih_dir.is_dir() else None
    if entry_file is None:
        raise UserError(
            f"no Data_Entry_2017_v2020.csv in {nih_dir}: pass --nih-dir (or set "
            f"${sources.ENV_VAR}) to the folder with NIH's files"
        )
    spec = expert_labels.SETS.get(label_set)
    folder = nih_dir / spec.folder if spec else None
    if spec and not folder.is_dir():
        raise UserError(
            f"--labels {label_set} needs Google's {spec.folder}/ folder in {nih_dir}: put it "
            f"there as Google ships it ({folder}/{spec.truth_files[0]} and the rest)"
        )
    try:
        entries = metadata.read_data_entry(entry_file)
        lists = [
            set(metadata.read_image_list(nih_dir / name))
            for name in (metadata.TEST_LIST, metadata.TRAIN_VAL_LIST)
        ]
    except (ValueError, OSError) as e:
        raise UserError(str(e).splitlines()[0]) from None
    patients = {k: e.patient_id for k, e in entries.items()}
    if spec is None:
        labels = {k: np.array([x in e.labels for x in LABELS], float) for k, e in entries.items()}
        return Reference("nih", LABELS, labels, patients, *lists)
    try:
        found = expert_labels.read_set(folder, spec)
    except ValueError as e:
        raise UserError(str(e)) from None
    finding_of = {y: f for f, y in spec.nih_labels.items()}
    combined = {f: COMBINED[f] for f in spec.findings if f in COMBINED and f not in finding_of}
    names = tuple(x for x in LABELS if x in finding_of) + tuple(combined)
    columns = [spec.findings.index(finding_of.get(x, x)) for x in names]
    labels = {k: call.findings[columns].astype(float) for k, call in found.truth.items()}
    left_out = tuple(f for f in spec.findings if f not in finding_of and f not in combined)
    return Reference(label_set, names, labels, patients, *lists, combined, left_out)
