"""The labels a predictions CSV is scored against: NIH's, Google's radiologists' or RSNA's.

NIH's come from its Data_Entry CSV; Google's (`cxr_tfds.cxr14_subset.expert_labels`) from
their folders beside it. Google's four-findings set scores Pneumothorax as NIH's label, and
Nodule or mass as the model's max(Nodule, Mass); Fracture and Airspace opacity have no NIH
label and are left out. RSNA's (`cxr.evaluation.rsna_reference`: opacity and abnormal, each
against stated model scores) come from the challenge's files in the NIH folder.
"""

import dataclasses
import pathlib

import numpy as np

from cxr.errors import UserError
from cxr.evaluation import rsna_reference
from cxr_tfds.cxr14_subset import expert_labels, metadata, sources
from cxr_tfds.labels import LABELS

# The one list of label sets: `cxr score --labels` takes any; `cxr evaluate --labels` the
# radiologists' (a run is scored against NIH's labels without it).
RADIOLOGIST_SETS = (*expert_labels.SETS, rsna_reference.NAME)
LABEL_SETS = ("nih", *RADIOLOGIST_SETS)
# What each label set is, for titles, JSON and W&B.
SOURCES = {
    "nih": "NIH's labels (text-mined from the reports; Data_Entry_2017_v2020.csv)",
    expert_labels.ALL_FINDINGS: "Google's radiologist labels, all findings (majority of 3 "
    "radiologists; Nabulsi et al., Sci Rep 2021)",
    expert_labels.FOUR_FINDINGS: "Google's radiologist labels, four findings (adjudicated by 3 "
    "radiologists; Majkowska et al., Radiology 2019)",
    rsna_reference.NAME: rsna_reference.SOURCE,
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
            findings in `combined` (RSNA's: `rsna_reference.ROWS`).
        labels: image id -> float (len(label_names),) 0/1 vector, for the labelled images.
        patients: image id -> NIH patient id, every image NIH lists.
        test: NIH's official test images; train_val: the other list.
        combined: finding -> the NIH labels whose max is the model's score of it
            (`COMBINED`; one label: its probability).
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
    """Reads NIH's files in `nih_dir` and, for a radiologists' set, its files beside them.

    Raises:
        UserError: a missing folder or file (saying where to put it), or a bad row.
    """
    spec = expert_labels.SETS.get(label_set)
    folder = pathlib.Path(nih_dir) / spec.folder if spec else None
    nih = _nih(nih_dir)
    if spec and not folder.is_dir():
        raise UserError(
            f"--labels {label_set} needs Google's {spec.folder}/ folder in {nih_dir}: put it "
            f"there as Google ships it ({folder}/{spec.truth_files[0]} and the rest)"
        )
    if label_set == rsna_reference.NAME:
        return _rsna(nih_dir, nih)[0]
    if spec is None:
        return nih
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
    return dataclasses.replace(
        nih, name=label_set, label_names=names, labels=labels, combined=combined, left_out=left_out
    )


def load_pair(nih_dir, label_set: str) -> tuple[Reference, Reference]:
    """A radiologists' set and NIH's labels to stand beside it (`cxr evaluate --labels`).

    NIH's are its 14 labels; beside RSNA's, NIH's on RSNA's rows (`rsna_reference.nih_truth`:
    the same model score against NIH's Pneumonia, ..., any of the 14), so each row compares
    two truths for one score.
    """
    if label_set == rsna_reference.NAME:
        return _rsna(nih_dir, _nih(nih_dir))
    return load_reference(nih_dir, label_set), load_reference(nih_dir, "nih")


def _nih(nih_dir) -> Reference:
    """NIH's own labels, patients and lists."""
    nih_dir = pathlib.Path(nih_dir)
    entry_file = metadata.find_data_entry(nih_dir) if nih_dir.is_dir() else None
    if entry_file is None:
        raise UserError(
            f"no Data_Entry_2017_v2020.csv in {nih_dir}: pass --nih-dir (or set "
            f"${sources.ENV_VAR}) to the folder with NIH's files"
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
    labels = {k: np.array([x in e.labels for x in LABELS], float) for k, e in entries.items()}
    return Reference("nih", LABELS, labels, patients, *lists)


def _rsna(nih_dir, nih: Reference) -> tuple[Reference, Reference]:
    """RSNA's rows on the images its radiologists labelled, and NIH's on the same rows."""
    classes = rsna_reference.read_classes(nih_dir)
    rows = dict(label_names=tuple(rsna_reference.ROWS), combined=rsna_reference.combined())
    by_rsna = {k: rsna_reference.truth(c) for k, c in classes.items()}
    both = [k for k in classes if k in nih.labels]
    truths = rsna_reference.nih_truth(np.array([nih.labels[k] for k in both]).reshape(-1, len(LABELS)))  # fmt: skip
    by_nih = dict(zip(both, truths, strict=True))
    return (
        dataclasses.replace(nih, name=rsna_reference.NAME, labels=by_rsna, **rows),
        dataclasses.replace(nih, labels=by_nih, **rows),
    )
