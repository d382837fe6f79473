"""Evaluators: small objects that each turn a split's predictions into one `Result`.

Each has three methods, called by `cxr.pipeline.evaluate.evaluate` in this order:

    pairs(preds)                       the (image index, label) pairs it needs Grad-CAM for
    add(index=, label=, gray=, heatmap=, cam=) once per pair it asked for, maps streamed in batches
    result(preds=, val=, eval_dir=)    its files, W&B items and text (`cxr.tracking.writer.Result`)

They never write: `cxr.tracking.writer` does. `default` builds the list every run uses.
"""

import numpy as np

from cxr.evaluation import classification, classification_report
from cxr.saliency import gallery, localization
from cxr.stats.published import OFFICIAL_TEST_IMAGES
from cxr.tracking.rundir import EvalDir
from cxr.tracking.writer import Image, Result, Table


def default(*, num_bootstrap, seed, gallery_per_kind):
    """The evaluators of every run: the AUROC report, galleries, localization."""
    return [
        Classification(num_bootstrap=num_bootstrap, seed=seed),
        Galleries(per_kind=gallery_per_kind),
        Localization(seed=seed),
    ]


class Classification:
    """Per-label AUROC with patient-bootstrap CIs, operating points, the predictions file."""

    def __init__(self, *, num_bootstrap, seed):
        self.num_bootstrap, self.seed = num_bootstrap, seed

    def pairs(self, preds):
        return []

    def result(self, *, preds, val, eval_dir: EvalDir) -> Result:
        the_report = classification.report(
            test_probs=preds.probs,
            test_labels=preds.labels,
            test_patients=preds.patient_id,
            val_probs=val.probs,
            val_labels=val.labels,
            label_names=preds.label_names,
            num_bootstrap=self.num_bootstrap,
            seed=self.seed,
            official_images=preds.official_images,
        )
        the_report.update(dataset=preds.dataset, split=preds.split, val_split=val.split)
        result = classification_report.render(report=the_report, eval_dir=eval_dir)
        result.files[eval_dir.file(EvalDir.PREDICTIONS)] = EvalDir.encode_predictions(
            image_id=preds.image_id,
            patient_id=preds.patient_id,
            labels=preds.labels,
            probs=preds.probs,
            label_names=preds.label_names,
            dataset=preds.dataset,
            split=preds.split,
        )
        return result


class Galleries:
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
        self.picks = [  # (label, kind, rank, image index)
            (label, kind, rank, int(index))
            for label in range(len(preds.label_names))
            for kind, indices in gallery.select_cases(
                preds.probs, preds.labels, label, self.per_kind
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
        thresholds = classification.operating_thresholds(val.probs, val.labels, "f1")
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


class Localization:
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
            + localization.format_table(table, official=official),
        )
