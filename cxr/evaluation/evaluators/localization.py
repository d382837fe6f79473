"""`localization`: each NIH box's label explained on its image and scored against the box
(`cxr.saliency.localization`)."""

import numpy as np

from cxr.evaluation.evaluators import register
from cxr.evaluation.evaluators._base import Evaluator, panel
from cxr.saliency import localization, localization_report
from cxr.stats.published import OFFICIAL_TEST_IMAGES
from cxr.tracking.rundir import EvalDir
from cxr.tracking.writer import Result, Table


@register("localization")
class Localization(Evaluator):
    """Each NIH box's label explained on its image and scored against the box: Wang et
    al. 2017's boxes on the class activation map's own grid, the same boxes on the
    upsampled Grad-CAM map ("Wang-style, upsampled"), and the pointing game on that
    map, beside random and centre heatmaps (`cxr.saliency.localization`). Maps are
    scored as they arrive and then dropped."""

    TABLE = "localization"  # W&B key of the table
    # The W&B table's columns: each level of Wang et al.'s boxes at three T(IoBB), the
    # upsampled levels at 0.5, both pointing games. The label mean has no AFP (NaN).
    COLUMNS = (
        "n",
        "empty",
        *(
            localization.rate_key(s, stat, "iobb", t)
            for s in localization.WANG_SETS
            for t in (0.1, 0.25, 0.5)
            for stat in ("acc", "afp")
        ),
        *(
            localization.rate_key(s, stat, "iobb", 0.5)
            for s in localization.UPSAMPLED_SETS
            for stat in ("acc", "afp")
        ),
        *(
            f"{source}{game}"
            for game in localization.POINTING
            for source in ("", "random/", "centre/")
        ),
        *(f"p_{null}/{game}" for game in localization.POINTING for null in ("random", "centre")),
    )

    def __init__(self, *, seed):
        self.seed = seed
        self.scores, self.box_labels, self.shape, self.cam_shape = [], [], None, None

    def pairs(self, preds):
        self.preds = preds
        return sorted({(i, int(k)) for i, ks in enumerate(preds.box_labels) for k in ks})

    def add(self, *, index, label, gray, heatmap, cam=None):
        """`cam`: the signed grid map (`cxr.saliency.gradcam.class_activation_grid`);
        without it Wang et al.'s rows are NaN."""
        mine = self.preds.box_labels[index] == label
        boxes = self.preds.boxes[index][mine]
        maps = np.broadcast_to(heatmap, (len(boxes), *heatmap.shape))
        cams = None if cam is None else np.broadcast_to(cam, (len(boxes), *cam.shape))
        self.scores.append(localization.score_boxes(heatmaps=maps, boxes=boxes, cams=cams))
        self.box_labels += [label] * len(boxes)
        self.shape = heatmap.shape
        self.cam_shape = None if cam is None else cam.shape

    def result(self, *, preds, val, eval_dir: EvalDir) -> Result:
        if not self.box_labels:
            return Result(text="No NIH box in this split: no localization measured.")
        table = localization.localization_table(
            localization.concatenate_scores(self.scores),
            box_labels=np.array(self.box_labels),
            label_names=preds.label_names,
            heatmap_shape=self.shape,
            cam_shape=self.cam_shape,
            seed=self.seed,
        )
        rows = [
            [label, *(row.get(k, np.nan) for k in self.COLUMNS)] for label, row in table.items()
        ]
        official = preds.official_images == OFFICIAL_TEST_IMAGES
        return Result(
            files={eval_dir.file(EvalDir.LOCALIZATION): table},
            log={self.TABLE: Table(["label", *self.COLUMNS], rows)},
            summary=localization.summary(table),
            text=f"Localization of {len(self.box_labels)} {preds.split} boxes:\n"
            + localization_report.format_table(table, official=official),
        )

    def sections(self, test, labels):
        """Localization: the table per label and the pointing-game hit rates."""
        panels = [
            panel("table", "Localization per label", [test(self.TABLE)]),
            *(panel("scalar", f"Test {game}", [test(game)]) for game in localization.POINTING),
        ]
        return [{"name": "Localization", "panels": panels}]
