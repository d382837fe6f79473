"""What a saliency study scores its maps against: a split's (image, label, region) pairs.

A `Reference` reads the pairs of a split from the dataset without decoding an image and
says how a batch of maps is scored against their regions. NIH's boxes and RSNA's are
registered in `REFERENCES` under `cxr.evaluation.box_reference`'s names; another kind of
region (a pixel mask, say) is another `Reference`, with its own reader and its own
`score` and `baselines` in place of the box scores.

Pairs are `(index in the split, label index, region, patient id, image id)`, in the split's
order; a region is a (4,) normalised box (ymin, xmin, ymax, xmax) here.
"""

import dataclasses
from collections.abc import Callable

import tensorflow_datasets as tfds

from cxr.data import datasets
from cxr.errors import UserError
from cxr.evaluation import box_reference, rsna_reference, saliency_scores
from cxr_tfds.cxr14_subset import rsna_features


def _records(builder, split, select):
    """`select(example)` of every example of a split, images left encoded."""
    ds = builder.as_dataset(
        split=split,
        shuffle_files=False,
        decoders={"image": tfds.decode.SkipDecoding()},
        read_config=tfds.ReadConfig(try_autocache=False),
    )
    return ds.map(select).as_numpy_iterator()


def split_boxes(builder, split):
    """Every NIH box of a split, each with its own label."""

    def select(ex):
        return ex["patient_id"], ex["image_id"], ex["bboxes"]["bbox"], ex["bboxes"]["label"]

    pairs = []
    for index, (patient, image, boxes, labels) in enumerate(_records(builder, split, select)):
        pairs.extend(
            (index, int(k), b, int(patient), image.decode())
            for b, k in zip(boxes, labels, strict=True)
        )
    return pairs


def rsna_boxes(builder, split):
    """Every RSNA opacity box of a split, once per label of `box_reference.SETS["rsna"]`."""
    names = datasets.label_names(builder.info)
    labels = [names.index(x) for x in box_reference.SETS[rsna_reference.NAME].labels]

    def select(ex):
        return ex["patient_id"], ex["image_id"], ex[rsna_features.NAME]["boxes"]

    pairs = []
    for index, (patient, image, boxes) in enumerate(_records(builder, split, select)):
        pairs.extend((index, k, b, int(patient), image.decode()) for b in boxes for k in labels)
    return pairs


@dataclasses.dataclass(frozen=True)
class Reference:
    """One source of regions: its `box_reference.BoxSet`, the dataset feature it needs,
    its reader and its scoring (`saliency_scores.box_scores` and `baseline_scores` for boxes)."""

    spec: box_reference.BoxSet
    feature: str
    read: Callable
    score: Callable = saliency_scores.box_scores
    baselines: Callable = saliency_scores.baseline_scores

    def check(self, builder):
        """A one-line `UserError` when the dataset was built without this reference's feature."""
        if self.feature not in builder.info.features:
            raise UserError(
                f"{datasets.dataset_name(builder)} has no {self.feature!r} feature for --boxes "
                f"{self.spec.name}: {self._rebuild()}"
            )

    def pairs(self, builder, split):
        """The split's pairs (the module docstring's tuples)."""
        self.check(builder)
        return self.read(builder, split)

    def check_boxed(self, builder, split, pairs):
        """A one-line `UserError` when `split` has no pair, naming the splits that have some."""
        if pairs:
            return
        boxed = [s for s in builder.info.splits if self.read(builder, s)]
        where = (
            f"boxes are in: {', '.join(boxed)} (pass --split)"
            if boxed
            else f"no split has any: {self._rebuild()}"
        )
        raise UserError(
            f"split {split!r} of {datasets.dataset_name(builder)} has none of "
            f"{self.spec.source} to score saliency on; {where}"
        )

    def _rebuild(self):
        return f"put {self.spec.files} in the NIH folder and build the dataset again (make data)"


REFERENCES = {
    box_reference.NIH: Reference(box_reference.SETS[box_reference.NIH], "bboxes", split_boxes),
    rsna_reference.NAME: Reference(
        box_reference.SETS[rsna_reference.NAME], rsna_features.NAME, rsna_boxes
    ),
}
