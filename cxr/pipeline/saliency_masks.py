"""Pixel masks as what a saliency study scores its maps against: SIIM-ACR's pneumothoraces.

    reference = saliency_masks.reference(builder, model_labels)  # None: the dataset has none
    pairs = reference.pairs(builder, "test")   # (index, label, (S, S) mask, patient, image)
    saliency_masks.choose_reference(builder, model_labels, boxes)  # what cxr saliency scores

A dataset whose registry entry names a `masks` feature (`cxr_tfds.registry`; today
`cxr_siim`'s "mask") is scored mask by mask: each image with a non-empty mask is one pair,
its mask against the map of the model's label of the same name (`Pneumothorax`). Images
without pneumothorax have no region to find and are not pairs; positive images whose mask
came out empty at the config's size are left out and counted.

The columns are the box study's where they mean the same on a mask
(`cxr.saliency.mask_scores`): "hit", "pointing", "miou_otsu", "auprc" and the IoUs at the
tuning thresholds for "miou_tuned"; Wang et al.'s columns are about boxes and are not
made. The baselines: a uniform random map (exact chances: the share of the image the mask
covers, or lies within the pointing tolerance of) and the centre cone scored as a method.
docs/protocols.md ("Saliency against SIIM-ACR's pneumothorax masks") says how these
differ from CheXlocalize's.
"""

import numpy as np
import tensorflow as tf

from cxr.data import datasets
from cxr.errors import UserError
from cxr.evaluation import box_reference, saliency_scores
from cxr.pipeline import saliency_regions
from cxr.saliency import mask_scores, pointing
from cxr_tfds import registry


def mask_columns(heatmaps, masks, *, grids=None):
    """The columns of one batch of maps, map i against mask i (`grids` unused: no Wang).

    Args:
        heatmaps: (M, H, W) maps at the image's size.
        masks: (M, H, W) bool masks.

    Returns:
        {column: (M,)} and `saliency_scores.IOUS` (M, T).
    """
    del grids  # Wang et al.'s grid columns are defined on boxes only
    rows = [mask_scores.score_map(h, m) for h, m in zip(heatmaps, masks, strict=True)]
    columns = {key: np.array([r[key] for r in rows], dtype=np.float64) for key in rows[0]}
    columns["miou_otsu"] = columns.pop("iou")
    columns[saliency_scores.IOUS] = np.array(
        [
            mask_scores.threshold_ious(h, m, saliency_scores.TUNING_THRESHOLDS)
            for h, m in zip(heatmaps, masks, strict=True)
        ]
    )
    return columns


def mask_baselines(masks, *, image_shape, grid_shape=None):
    """The two baselines' columns for some masks: {RANDOM: exact chances, CENTRE: scored}."""
    del grid_shape  # no Wang columns on masks
    masks = np.asarray(masks, dtype=bool)
    random = {
        "hit": masks.mean(axis=(1, 2)),
        "pointing": np.array(
            [mask_scores.near_mask(m, pointing.ZHANG_TOLERANCE).mean() for m in masks]
        ),
    }
    centre = np.broadcast_to(pointing.centre_heatmap(*image_shape), masks.shape)
    return {
        saliency_scores.RANDOM: random,
        saliency_scores.CENTRE: mask_columns(centre, masks),
    }


def mask_set(builder, label: str) -> box_reference.BoxSet:
    """What saliency.json says of these regions: whose, which map, from which files."""
    return box_reference.BoxSet(
        name="masks",
        source=f"{builder.name}'s {label} masks",
        maps=f"each image's mask (all its regions) against the map of the model's {label}",
        labels=(label,),
        wang="Wang et al.'s protocol (not run: it is defined on boxes)",
        files=f"the release's files (cxr_tfds/{builder.name}/README.md)",
    )


def read_masks(builder, split, *, feature, label_index):
    """The split's pairs: every image with a non-empty mask, in the split's order.

    Prints how many positive images were left out for a mask empty at this size.
    """
    label_feature = registry.get(builder.name).label_feature

    def select(ex):
        mask = ex[feature][..., 0] > 0  # records() leaves only "image" encoded
        return ex["patient_id"], ex["image_id"], mask, ex[label_feature]

    records = datasets.records(builder, split, decode_images=False)
    records = records.map(select, num_parallel_calls=tf.data.AUTOTUNE)
    pairs, emptied = [], 0
    for index, (patient, image, mask, raw) in enumerate(records.as_numpy_iterator()):
        if mask.any():
            pairs.append((index, label_index, mask, patient.decode(), image.decode()))
        else:
            emptied += int(raw.max()) == 1  # positive, but its mask is under half a pixel
    if emptied:
        print(
            f"{split}: {emptied} positive images left out: their masks are empty at "
            f"{builder.builder_config.image_size} px (less than half of any pixel)"
        )
    return pairs


def reference(builder, model_labels):
    """The mask `saliency_regions.Reference` of `builder`'s dataset; None without masks.

    Args:
        builder: The dataset the study reads.
        model_labels: The model's label names: each mask is scored against the map of the
            model's label of the dataset's name (one label: SIIM's Pneumothorax).

    Raises:
        UserError: when the model does not predict the dataset's label.
    """
    entry = registry.get(builder.name)
    if entry.masks is None:
        return None
    (label,) = entry.label_names
    if label not in model_labels:
        raise UserError(
            f"{builder.name}'s masks are of {label}, which the model does not predict "
            f"(its labels: {', '.join(model_labels)})"
        )
    index = list(model_labels).index(label)
    return saliency_regions.Reference(
        spec=mask_set(builder, label),
        feature=entry.masks,
        read=lambda b, split: read_masks(b, split, feature=entry.masks, label_index=index),
        score=mask_columns,
        baselines=mask_baselines,
    )


def choose_reference(builder, model_labels, boxes):
    """What `cxr saliency` scores against: the dataset's masks where its registry entry
    has some (`reference`), else the `--boxes` set (`saliency_regions.REFERENCES`)."""
    return reference(builder, model_labels) or saliency_regions.REFERENCES[boxes]
