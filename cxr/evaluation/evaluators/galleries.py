"""`galleries`: per label, Grad-CAM galleries of the most confident true positives, false
positives and false negatives (`cxr.saliency.gallery`)."""

import numpy as np

from cxr.evaluation import classification, classification_report
from cxr.evaluation.evaluators import register
from cxr.evaluation.evaluators._base import Evaluator, panel
from cxr.saliency import gallery
from cxr.tracking.rundir import EvalDir
from cxr.tracking.writer import Image, Result, Table

GROUPING = (  # W&B cannot set a table's grouping through wandb-workspaces: say how
    "**Grad-CAM gallery.** Group the table by `label`, then by `kind` (each column's menu, "
    "*Group by*). Sort on `probability`; filter on `empty` or `kind`. Click an `xray` image: "
    "toggle `ground_truth` (NIH) and `predictions` (boxes from the map, scored by IoBB/IoU: "
    "slide to filter) and the `heat` mask."
)


@register("galleries")
class Galleries(Evaluator):
    """Per label, Grad-CAM before its ReLU (the signed map, red for and blue against the
    label) of the most confident true positives, false positives and false negatives
    (`cxr.saliency.gallery`): one PNG per label, logged too, and one W&B table with the
    thresholds chosen on validation (`cxr.evaluation.classification.operating_thresholds`)."""

    TABLE = "gradcam/gallery"  # W&B key of the table (`gallery.TABLE_COLUMNS`)

    def __init__(self, *, per_kind):
        self.per_kind = per_kind
        self.cases = {}  # (index, label) -> (gray, heatmap, cam) of the images drawn

    @staticmethod
    def png_key(label_name):
        """W&B key of a label's gallery PNG."""
        return f"gradcam/png/{label_name}"

    def pairs(self, preds):
        known = preds.known_mask()  # an image whose label is unknown is no case of it
        self.picks = [  # (label, kind, rank, image index)
            (label, kind, rank, int(np.flatnonzero(known[:, label])[index]))
            for label in range(len(preds.label_names))
            for kind, indices in gallery.select_cases(
                preds.probs[known[:, label]], preds.labels[known[:, label]], label, self.per_kind
            ).items()
            for rank, index in enumerate(indices)
        ]
        return [(index, label) for label, _, _, index in self.picks]

    def add(self, *, index, label, gray, heatmap, cam=None):
        """Keeps one panel's image, Grad-CAM map and signed grid map `cam` (what is drawn)."""
        # Without `cam` the [0, 1] map is the best signed map there is: drawn as positive.
        self.cases[(index, label)] = (gray, heatmap, heatmap if cam is None else cam)

    def result(self, *, preds, val, eval_dir: EvalDir) -> Result:
        names = preds.label_names
        thresholds = classification.operating_thresholds(val.probs, val.labels, "f1", val.known)
        cases = []
        for label, kind, rank, index in self.picks:
            gray, heatmap, cam = self.cases[(index, label)]
            cases.append(
                gallery.case(
                    label=label,
                    label_name=names[label],
                    kind=kind,
                    rank=rank,
                    image_id=str(preds.image_id[index]),
                    probability=preds.probs[index, label],
                    threshold=thresholds[label],
                    threshold_rule=classification_report.POINT_RULES["f1"],
                    truth=gallery.truth_text(preds.labels[index], names),
                    gray=gray,
                    heatmap=heatmap,
                    cam=cam,
                    boxes=preds.boxes[index],
                    box_labels=preds.box_labels[index],
                )
            )
        files, log = {}, {}
        for label, name in enumerate(names):
            mine = [case for case in cases if case["label"] == label]
            if mine:
                path = eval_dir.gallery(name)
                files[path] = gallery.draw_gallery(
                    mine, title=f"{name}: {gallery.ROWS_TITLE}", per_kind=self.per_kind
                )
                log[self.png_key(name)] = Image(path)
        empty = sum(case["empty"] for case in cases)
        negative = sum(case["negative"] and not case["empty"] for case in cases)
        text = (
            f"Grad-CAM galleries of {len(files)} labels: {eval_dir.path / EvalDir.GALLERIES} "
            f"(signed maps, red for the label, blue against; {negative} of {len(cases)} "
            f"all against"
        )
        text += f", {empty} constant, marked so)" if empty else ")"
        if cases:
            log[self.TABLE] = Table(gallery.TABLE_COLUMNS, gallery.wandb_rows(cases, names))
        return Result(files=files, log=log, text=text)

    def sections(self, test, labels):
        """Grad-CAM gallery: the table, how to read it, the PNGs."""
        panels = [
            panel("table", "Grad-CAM gallery", [test(self.TABLE)], height=16),
            panel("markdown", "How to read it", [], text=GROUPING),
            panel("media", "Gallery PNGs", [test(self.png_key(x)) for x in labels], height=12),
        ]
        return [{"name": "Grad-CAM gallery", "panels": panels}]
