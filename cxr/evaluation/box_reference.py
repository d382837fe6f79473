"""The boxes a saliency study scores maps against (`cxr saliency --boxes`), and which map.

- `nih`: NIH's 984 boxes (BBox_List_2017.csv), each scored against the map of its own
  label (8 findings): the study as it always ran.
- `rsna`: RSNA's radiologists' opacity boxes on NIH images (`cxr.evaluation.rsna_reference`),
  each scored against the maps of the model's Pneumonia, Consolidation and Infiltration,
  one (box, label) pair per label: no NIH label is the challenge's opacity, so each of the
  three labels' maps has its own per-label scores, and the label mean is their mean.

Wang et al.'s protocol scored NIH's boxes; on RSNA's it is "Wang et al.'s protocol on RSNA
boxes". Pure: the `cxr` command's parser reads the names here before any framework starts.
The pairs themselves are read from the dataset by `cxr.pipeline.saliency_regions`.
"""

import dataclasses

from cxr.evaluation import rsna_reference
from cxr_tfds.cxr14_subset import metadata, rsna

NIH = "nih"


@dataclasses.dataclass(frozen=True)
class BoxSet:
    """One source of boxes.

    Attributes:
        name: the `--boxes` name.
        source: whose boxes, for titles and saliency.json.
        maps: which label's map each box is scored against, in words.
        labels: the labels whose maps score every box; () for each box's own label.
        wang: what Wang et al.'s protocol is called on these boxes.
        files: the files in the NIH folder a dataset build takes these boxes from.
    """

    name: str
    source: str
    maps: str
    labels: tuple = ()
    wang: str = "Wang et al.'s protocol"
    files: str = metadata.BBOX_FILE


SETS = {
    NIH: BoxSet(
        name=NIH,
        source="NIH's boxes",
        maps="each box against the map of its own label",
    ),
    rsna_reference.NAME: BoxSet(
        name=rsna_reference.NAME,
        source=rsna_reference.BOX_SOURCE,
        maps="each opacity box against the maps of the model's "
        + ", ".join(rsna_reference.BOX_LABELS)
        + ", one (box, label) pair per label",
        labels=rsna_reference.BOX_LABELS,
        wang=rsna_reference.WANG_ON_BOXES,
        files=f"{rsna.FOLDER}/ ({rsna.LABELS_FILE}, {rsna.CROSSREF_FILE})",
    ),
}
