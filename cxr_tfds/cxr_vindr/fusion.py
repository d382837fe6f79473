"""Readers' boxes fused into one box per finding where enough readers agree.

Our own rule, "reader-agreement clusters" (not weighted boxes fusion: no confidence
scores, no score-weighted average), applied per image and finding:

1. Order the finding's boxes by area, largest first (ties: reader, then corners), so
   the result does not depend on the CSV's row order.
2. Each box joins the cluster whose first box (its seed) it overlaps most, provided
   that overlap is an IoU >= `iou_threshold` (0.5) and the cluster holds no box of the same reader yet;
   else it seeds a new cluster. A cluster thus holds at most one box per reader.
3. A cluster with boxes of >= `min_readers` readers is kept (2: a majority of VinDr's 3
   readers); its fused box is the mean of its members' corners.

The test set's boxes are already a consensus (of 5 readers): `as_drawn` keeps each as it is.

Pure Python.
"""

import dataclasses

from cxr_tfds.cxr_vindr.annotations import ReaderBox


@dataclasses.dataclass(frozen=True)
class FusedBox:
    """A finding's box agreed on by `readers` readers, in the original pixels."""

    finding: int
    readers: int
    x_min: float
    y_min: float
    x_max: float
    y_max: float


def iou(a, b) -> float:
    """Intersection over union of two boxes with x_min, y_min, x_max, y_max attributes."""
    width = min(a.x_max, b.x_max) - max(a.x_min, b.x_min)
    height = min(a.y_max, b.y_max) - max(a.y_min, b.y_min)
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / (_area(a) + _area(b) - inter)


def _area(box) -> float:
    return (box.x_max - box.x_min) * (box.y_max - box.y_min)


def _order(box: ReaderBox):
    return (-_area(box), box.reader, box.x_min, box.y_min, box.x_max, box.y_max)


def clusters(boxes: list[ReaderBox], iou_threshold: float) -> list[list[ReaderBox]]:
    """Steps 1 and 2 for the boxes of one finding: clusters of at most one box per reader."""
    found: list[list[ReaderBox]] = []
    for box in sorted(boxes, key=_order):
        open_ = [c for c in found if box.reader not in {b.reader for b in c}]
        best = max(open_, key=lambda c: iou(box, c[0]), default=None)
        if best is not None and iou(box, best[0]) >= iou_threshold:
            best.append(box)
        else:
            found.append([box])
    return found


def fuse(
    boxes: list[ReaderBox], iou_threshold: float = 0.5, min_readers: int = 2
) -> list[FusedBox]:
    """Steps 1-3 for every finding of one image.

    Args:
        boxes: the image's reader boxes (any findings).
        iou_threshold: the least IoU of a box with a cluster's seed to join it.
        min_readers: the least readers a cluster needs to be kept.

    Returns:
        The fused boxes, by finding, then in cluster order.
    """
    fused = []
    for finding in sorted({b.finding for b in boxes}):
        for cluster in clusters([b for b in boxes if b.finding == finding], iou_threshold):
            if len(cluster) < min_readers:
                continue
            corners = [
                sum(getattr(b, c) for b in cluster) / len(cluster)
                for c in ("x_min", "y_min", "x_max", "y_max")
            ]
            fused.append(FusedBox(finding, len(cluster), *corners))
    return fused


def as_drawn(boxes: list[ReaderBox]) -> list[FusedBox]:
    """Consensus boxes as they are (one reader: the consensus), by finding."""
    ordered = sorted(boxes, key=lambda b: (b.finding, b.line))
    return [FusedBox(b.finding, 1, b.x_min, b.y_min, b.x_max, b.y_max) for b in ordered]
