"""Saliency maps scored per box, per method: label means with patient-bootstrap CIs, paired.

    book = ScoreBook()
    book.add_boxes(labels=labels, patients=patients)                # once per batch of boxes
    book.add("ig", box_scores(maps, boxes))                         # each method, same order
    study = book.summarize(label_names=names, chosen=choose_thresholds(...), num_bootstrap=1000)

Each (image, box) pair's map is scored as it is made (`box_scores`) and only scalars are
kept. The columns of a box:

- Wang et al.'s protocol (`cxr.saliency.localization`), per level and T(IoBB): "S/acc@iobbTT"
  (the box is localized) and "S/afp@iobbTT" (the wrong boxes). S is "wang60" and "wang180"
  on the signed CAM grid (only CAM has one: Wang et al.'s own heatmap), and "wangstyle60",
  "wangstyle180" on the map as the method makes it, at the image's size (the same min-max
  to [0, 255], levels and boxes; not their protocol, whose map is the network's grid).
- "hit": CheXlocalize's hit (peak in the box, no tolerance); "pointing": Zhang et al.'s
  pointing game with its 15 px of 1024 (`cxr.saliency.pointing.ZHANG_TOLERANCE`).
- "miou_otsu", "auprc": `cxr.saliency.map_scores`. "miou_tuned": the IoU at the label's
  threshold chosen on validation boxes (`choose_thresholds`): CheXlocalize's tuned
  threshold, on the min-max scaled map, from `TUNING_THRESHOLDS`.

Every score is averaged as CheXlocalize does, the mean over labels of the per-label means
("label_mean"); "all_boxes" is the mean over boxes. AFP means only over all boxes: a
label's wrong boxes divided by every box scored is Wang et al.'s definition, so the
all-boxes mean of the per-box counts is their all-boxes AFP. CIs resample patients
(`cxr.stats.bootstrap.resample_chunks`); every method sees the same resamples, so
method minus method, resample by resample, is a paired difference (`compare`).
"""

import math

import numpy as np

from cxr.saliency import localization, map_scores, mask_scores, pointing
from cxr.stats import bootstrap

TUNING_THRESHOLDS = tuple(round(0.05 * k, 2) for k in range(1, 20))  # 0.05 .. 0.95
GRID_SETS = {"wang60": 60, "wang180": 180}  # on the CAM grid: Wang et al.'s protocol
IMAGE_SETS = {"wangstyle60": 60, "wangstyle180": 180}  # on the image-size map: Wang-style
RANDOM = "random"  # baseline: a uniform random map, exact chances of the pointing scores
CENTRE = "centre"  # baseline: `cxr.saliency.pointing.centre_heatmap`, scored as a method
IOUS = "ious"  # per box, the IoUs at `TUNING_THRESHOLDS`, for the tuned threshold


def wang_columns(sets):
    """The Wang et al. column names of some sets: accuracy and AFP per T(IoBB)."""
    return [
        localization.rate_key(name, stat, "iobb", t)
        for name in sets
        for stat in ("acc", "afp")
        for t in localization.IOBB_THRESHOLDS
    ]


def threshold_ious(heatmap, box, thresholds=TUNING_THRESHOLDS):
    """IoU of the box's pixels with the min-max scaled map above each threshold
    (`cxr.saliency.mask_scores.threshold_ious` on the box's pixels).

    Returns:
        (T,) IoUs; zeros for an empty (constant) map, which segments nothing.
    """
    truth = map_scores.box_mask(box, np.shape(heatmap))
    return mask_scores.threshold_ious(heatmap, truth, thresholds)


def box_scores(heatmaps, boxes, *, grids=None):
    """The columns of one batch of maps, map i against truth box i.

    Args:
        heatmaps: (M, H, W) maps at the image's size, as the method makes them.
        boxes: (M, 4) normalised truth boxes.
        grids: (M, h, w) signed CAM grids for Wang et al.'s own sets; None: no such columns.

    Returns:
        {column: (M,)} and `IOUS` (M, T).
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    located = localization.score_boxes(heatmaps=heatmaps, boxes=boxes, cams=grids)
    sources = {**IMAGE_SETS, **(GRID_SETS if grids is not None else {})}
    out = {"pointing": located["pointing_tol"].astype(np.float64)}
    for name, level in sources.items():
        source = f"{'wang' if name in GRID_SETS else 'up'}{level}"
        for stat, key in (("acc", "hit_iobb"), ("afp", "fp_iobb")):
            for j, t in enumerate(localization.IOBB_THRESHOLDS):
                out[localization.rate_key(name, stat, "iobb", t)] = located[f"{source}/{key}"][:, j]
    per_map = [map_scores.score_map(h, b) for h, b in zip(heatmaps, boxes, strict=True)]
    out["hit"] = np.array([r["hit"] for r in per_map], dtype=np.float64)
    out["miou_otsu"] = np.array([r["iou"] for r in per_map], dtype=np.float64)
    out["auprc"] = np.array([r["auprc"] for r in per_map], dtype=np.float64)
    out[IOUS] = np.array([threshold_ious(h, b) for h, b in zip(heatmaps, boxes, strict=True)])
    return out


def baseline_scores(boxes, *, image_shape, grid_shape=None):
    """The two baselines' columns for some boxes: {`RANDOM`: ..., `CENTRE`: ...}.

    The uniform random map has only the pointing scores, as exact hit chances
    (`pointing.random_chance`): thresholded noise falls apart into specks and its other
    scores would say nothing. The centre map is scored as a method is.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    centre = np.broadcast_to(pointing.centre_heatmap(*image_shape), (len(boxes), *image_shape))
    grids = None
    if grid_shape is not None:
        grids = np.broadcast_to(pointing.centre_heatmap(*grid_shape), (len(boxes), *grid_shape))
    random = {
        "hit": pointing.random_chance(boxes, 0.0, image_shape),
        "pointing": pointing.random_chance(boxes, pointing.ZHANG_TOLERANCE, image_shape),
    }
    return {RANDOM: random, CENTRE: box_scores(centre, boxes, grids=grids)}


def choose_thresholds(ious, labels, num_labels):
    """Per label, the index into `TUNING_THRESHOLDS` of the best mean IoU on validation boxes.

    Args:
        ious: (M, T) validation IoUs (`box_scores`'s `IOUS`).
        labels: (M,) label index of each validation box.
        num_labels: K.

    Returns:
        (K,) indices; -1 for a label without validation boxes (ties: the lowest threshold).
    """
    ious, labels = np.asarray(ious, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    chosen = np.full(num_labels, -1)
    for label in np.unique(labels):
        chosen[label] = int(np.argmax(ious[labels == label].mean(axis=0)))
    return chosen


def tuned_iou(ious, labels, chosen):
    """Each box's IoU at its label's chosen threshold; NaN where the label has none."""
    ious, index = np.asarray(ious), np.asarray(chosen)[np.asarray(labels, dtype=np.int64)]
    picked = ious[np.arange(len(index)), np.maximum(index, 0)] if len(index) else np.zeros(0)
    return np.where(index >= 0, picked, math.nan)


def weighted_means(values, weights, onehot):
    """Per-label, label-mean and all-boxes means of one column under many weightings.

    Args:
        values: (M,) a column; NaN (undefined, e.g. AUPRC of a box without pixels) left out.
        weights: (B, M) each box's weight per resample (how often its patient is drawn).
        onehot: (M, K) boxes' labels.

    Returns:
        per_label (B, K), label_mean (B,), all_boxes (B,); NaN where there is nothing to mean.
    """
    valid = np.isfinite(values)
    total = (weights * np.where(valid, values, 0.0)) @ onehot
    count = (weights * valid) @ onehot
    present = count > 0  # a label no drawn patient has a box of is left out of the mean
    with np.errstate(invalid="ignore", divide="ignore"):
        per_label = total / count
        all_boxes = total.sum(axis=1) / count.sum(axis=1)
        label_mean = np.where(present, per_label, 0.0).sum(axis=1) / present.sum(axis=1)
    return per_label, label_mean, all_boxes


def compare(first, second):
    """A paired difference first - second from their point values and same-resample values.

    Args:
        first, second: {"value": float, "resamples": (B,)} of two methods on the same boxes.

    Returns:
        {"difference", "ci_low", "ci_high", "p_value", "n_valid_resamples"}.
    """
    differences = np.asarray(first["resamples"]) - np.asarray(second["resamples"])
    return {
        "difference": first["value"] - second["value"],
        **bootstrap.percentile_ci(differences),
        "p_value": bootstrap.bootstrap_p_value(differences),
    }


class ScoreBook:
    """Per method, the columns of every box scored so far, in the order the boxes came.

    `add_boxes` gives each batch's box labels and patients once; `add` each method's
    columns of that batch, so every method scores the same boxes in the same order.
    """

    def __init__(self):
        self.labels, self.patients, self.columns = [], [], {}

    def add_boxes(self, *, labels, patients):
        """The label index and patient id of each box of the next batch."""
        self.labels.append(np.asarray(labels, dtype=np.int64).reshape(-1))
        self.patients.append(np.asarray(patients).reshape(-1))

    def add(self, method, columns):
        """One method's (or baseline's) `box_scores` of the batch last given to `add_boxes`."""
        book = self.columns.setdefault(method, {})
        for key, values in columns.items():
            book.setdefault(key, []).append(np.asarray(values))

    def arrays(self, method):
        """A method's columns over every box so far."""
        return {k: np.concatenate(v) for k, v in self.columns[method].items()}

    def box_labels(self):
        """(M,) label index of every box so far."""
        return np.concatenate(self.labels) if self.labels else np.zeros(0, np.int64)

    def summarize(self, *, label_names, chosen=None, num_bootstrap=1000, seed=0):
        """Every method's scores with CIs, and every pair of methods compared.

        Args:
            label_names: The K label names (box labels index them).
            chosen: {method: `choose_thresholds` output}, or None when validation has no
                boxes: then "miou_tuned" is left out.
            num_bootstrap: Patient resamples.
            seed: Their seed; the same resamples for every method.

        Returns:
            {"methods": {method: {column: {"label_mean", "all_boxes": {"value", "ci_low",
            "ci_high", "n_valid_resamples"}, "per_label": {label: {..., "n"}}}}},
            "comparisons": {"a - b": {column: `compare` of the label means}}}.
        """
        labels, patients = self.box_labels(), np.concatenate(self.patients)
        groups, num_patients = bootstrap.patient_index(patients)
        onehot = np.eye(len(label_names))[labels]
        columns = {m: self._columns(m, labels, chosen) for m in self.columns}
        point = {
            m: {k: weighted_means(v, np.ones((1, len(v))), onehot) for k, v in c.items()}
            for m, c in columns.items()
        }
        draws = {m: {k: [] for k in c} for m, c in columns.items()}
        chunks = bootstrap.resample_chunks(num_patients, num_bootstrap, seed, len(labels))
        for _, counts in chunks:
            weights = counts[:, groups].astype(np.float64)
            for method, cols in columns.items():
                for key, values in cols.items():
                    draws[method][key].append(weighted_means(values, weights, onehot))
        methods = {
            m: {
                k: _summary(point[m][k], draws[m][k], columns[m][k], labels, label_names)
                for k in columns[m]
            }
            for m in columns
        }
        return {"methods": methods, "comparisons": _comparisons(point, draws)}

    def _columns(self, method, labels, chosen):
        cols = self.arrays(method)
        ious = cols.pop(IOUS, None)
        if ious is not None and chosen is not None and method in chosen:
            cols["miou_tuned"] = tuned_iou(ious, labels, chosen[method])
        return cols


def _summary(point, draws, values, labels, label_names):
    """One column's point values and CIs: label mean, all boxes, and per label with boxes."""
    resampled = [np.concatenate([d[i] for d in draws]) for i in range(3)]
    out = {
        name: {"value": float(point[i][0]), **bootstrap.percentile_ci(resampled[i])}
        for i, name in ((1, "label_mean"), (2, "all_boxes"))
    }
    counts = np.bincount(labels[np.isfinite(values)], minlength=len(label_names))
    out["per_label"] = {
        name: {
            "value": float(point[0][0, k]),
            **bootstrap.percentile_ci(resampled[0][:, k]),
            "n": int(counts[k]),
        }
        for k, name in enumerate(label_names)
        if counts[k]
    }
    return out


def _comparisons(point, draws):
    """Every ordered pair of methods (a before b), per shared column: a - b of label means."""
    names = list(point)
    out = {}
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            shared = [k for k in point[a] if k in point[b]]
            out[f"{a} - {b}"] = {
                k: compare(
                    _label_means(point[a][k], draws[a][k]), _label_means(point[b][k], draws[b][k])
                )
                for k in shared
            }
    return out


def _label_means(point, draws):
    resampled = np.concatenate([d[1] for d in draws])
    return {"value": float(point[1][0]), "resamples": resampled}
