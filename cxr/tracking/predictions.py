"""`Predictions`: a model's per-image probabilities, the one record every stage passes.

The evaluation stage fills every field from a split (`cxr.pipeline.evaluate.predict_split`);
a predictions CSV (`cxr.evaluation.predictions_csv`) or a run's saved predictions.npz fill
the image ids, label names and probabilities, and say which file they came from. Its file,
predictions.npz, has one encoder: `EvalDir.encode_predictions`.

A label of an image is positive, negative or unknown (issue 24 §2): `labels` holds the
first two, `known` says which entries are known (1) and which are not (0: uncertain,
blank under a policy that says so, or not annotated by the dataset); evaluators score a
label only on the images where it is known. `attributes` holds what the dataset says of
each image's patient and acquisition, for subgroup audits (issue 25 §1).
"""

import dataclasses
import pathlib

import numpy as np

from cxr.tracking.rundir import EvalDir

# The per-image attributes a Predictions may hold, and the unknown value of each.
ATTRIBUTES = {"sex": "", "age": float("nan"), "view": ""}


@dataclasses.dataclass
class Predictions:
    """Per-image probabilities and what is known of each image, in one order.

    Attributes:
        probs: probabilities (N, L), one column per name in `label_names`.
        labels: multi-hot truth (N, L) float32; None when not known (a CSV).
        image_id: (N,) image ids, unique.
        patient_id: (N,) NIH patient ids; None when not known.
        boxes: per image, its NIH boxes (K_i, 4), normalised ymin, xmin, ymax, xmax.
        box_labels: per image, the label index of each box (K_i,).
        label_names: the L labels.
        known: (N, L) uint8, 1 where `labels` is known, 0 where it is unknown; None: all
            known (cxr14_subset, or a CSV without labels).
        attributes: name -> (N,) array, for the names the dataset has: "sex" str
            "M"/"F"/"" (unknown), "age" float (nan unknown), "view" str "PA"/"AP"/"";
            {} when the dataset has none (`ATTRIBUTES` lists the names).
        dataset, split: what was predicted ("" when not known).
        official_images: how many images are on NIH's official test list.
        path: the file they were read from; None when predicted here.
    """

    probs: np.ndarray
    image_id: np.ndarray | list
    label_names: tuple
    labels: np.ndarray | None = None
    patient_id: np.ndarray | None = None
    known: np.ndarray | None = None
    attributes: dict = dataclasses.field(default_factory=dict)
    boxes: list | None = None
    box_labels: list | None = None
    dataset: str = ""
    split: str = ""
    official_images: int = 0
    path: pathlib.Path | None = None

    def encoded(self) -> bytes:
        """The predictions file of these predictions (`EvalDir.PREDICTIONS`)."""
        return EvalDir.encode_predictions(
            image_id=self.image_id,
            patient_id=self.patient_id,
            labels=self.labels,
            probs=self.probs,
            label_names=self.label_names,
            dataset=self.dataset,
            split=self.split,
            known=self.known,
            attributes=self.attributes,
        )

    def known_mask(self) -> np.ndarray:
        """`known` as a bool (N, L) array; all True where `known` is None."""
        if self.known is None:
            return np.ones(np.shape(self.probs), dtype=bool)
        return np.asarray(self.known).astype(bool)
