"""Grad-CAM galleries: case selection, overlays, PNGs from a tiny model, the W&B table."""

import dataclasses
import json
import pathlib

import keras
import numpy as np
import pytest
import scipy.ndimage
import wandb
from PIL import Image
from test_wandb_logging import assert_self_contained, items_of, read_wandb_records

from cxr.evaluation import classification, evaluators
from cxr.model import densenet
from cxr.pipeline import evaluate
from cxr.saliency import gallery, localization, pointing
from cxr.saliency.gradcam import gradcam
from cxr.tracking import wandb_logging, writer
from cxr.tracking.rundir import EvalDir, RunDir
from cxr_tfds.labels import LABELS

SIZE = 64
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def test_select_cases_by_rank():
    probs = np.zeros((6, len(LABELS)))
    labels = np.zeros((6, len(LABELS)))
    probs[:, 2] = [0.9, 0.2, 0.8, 0.1, 0.7, 0.3]
    labels[:, 2] = [1, 0, 1, 1, 0, 1]
    cases = gallery.select_cases(probs, labels, 2, per_kind=2)
    assert {kind: list(indices) for kind, indices in cases.items()} == {
        "true_positive": [0, 2],
        "false_positive": [4, 1],
        "false_negative": [3, 5],
    }
    cases = gallery.select_cases(probs, labels, 2, per_kind=3)  # 4 positives: no repeats
    assert list(cases["true_positive"]) == [0, 2, 5] and list(cases["false_negative"]) == [3]
    cases = gallery.select_cases(probs, labels, 0, per_kind=2)  # no positives, tied probs
    assert [list(cases[kind]) for kind in gallery.KINDS] == [[], [0, 1], []]


def test_overlay_colours_hot_pixels_only():
    gray = np.full((8, 8), 100, dtype=np.uint8)
    heatmap = np.zeros((8, 8), dtype=np.float32)
    heatmap[2, 3] = 1.0
    rgb = gallery.overlay(gray, heatmap)
    assert rgb.shape == (8, 8, 3) and rgb.dtype == np.uint8
    assert (rgb[0, 0] == 100).all()  # cold: the plain X-ray
    red, green, blue = rgb[2, 3].astype(int)
    assert red > green + 20 and red > blue + 20  # hot: jet's red end


def fake_data(n=10, seed=0):
    """Gray images, multi-hot labels and one box per image for its first label."""
    rng = np.random.default_rng(seed)
    gray = rng.integers(0, 256, (n, SIZE, SIZE), dtype=np.uint8)
    labels = (rng.random((n, len(LABELS))) < 0.3).astype(np.float32)
    labels[:3, 0], labels[3:6, 0] = 1, 0  # Atelectasis has every kind of case
    boxes = [np.array([[0.1, 0.2, 0.5, 0.6]]) for _ in range(n)]
    box_labels = [np.array([int(np.argmax(row))]) for row in labels]
    return gray, labels, boxes, box_labels


def predictions(gray, labels, boxes, box_labels, probs):
    """What `cxr.pipeline.evaluate.predict_split` gives the evaluators, for made-up data."""
    n = len(gray)
    return evaluate.Predictions(
        probs=probs,
        labels=labels,
        image_id=np.array([f"{i:08d}_000.png" for i in range(n)]),
        patient_id=np.arange(n),
        boxes=boxes,
        box_labels=box_labels,
        label_names=LABELS,
        dataset="made-up",
        split="test",
        official_images=0,
    )


def validation(preds):
    """Made-up validation predictions: the test ones with the scores shuffled a little."""
    rng = np.random.default_rng(2)
    probs = np.clip(preds.probs + rng.normal(0, 0.2, preds.probs.shape), 0, 1)
    return dataclasses.replace(preds, probs=probs, split="validation")


def run_galleries(preds, gray, heatmap_of, per_kind, eval_dir):
    """The evaluation stage's protocol: pairs, then each asked-for map, then the result."""
    evaluator = evaluators.Galleries(per_kind=per_kind)
    pairs = evaluator.pairs(preds)
    for index, label in pairs:
        evaluator.add(index=index, label=label, gray=gray[index], heatmap=heatmap_of(index, label))
    return pairs, evaluator.result(preds=preds, val=validation(preds), eval_dir=eval_dir)


def test_gallery_from_a_tiny_model_writes_one_png_per_label(tmp_path):
    keras.utils.set_random_seed(0)
    model = densenet.build_model(num_labels=len(LABELS), image_size=SIZE)
    gray, labels, boxes, box_labels = fake_data()
    x = (np.repeat(gray[..., None] / 255.0, 3, axis=-1) - IMAGENET_MEAN) / IMAGENET_STD
    probs = np.random.default_rng(1).random(labels.shape)  # saves compiling `predict`
    preds = predictions(gray, labels, boxes, box_labels, probs)
    pairs, result = run_galleries(
        preds, gray, lambda i, k: gradcam(model, x[i : i + 1], k)[0], 2, EvalDir(tmp_path)
    )
    assert len(set(pairs)) == len(pairs)  # each (image, label) once
    paths = writer.write([result])
    assert [p.name for p in paths] == [f"{name}.png" for name in LABELS]
    assert all(p.parent == tmp_path / EvalDir.GALLERIES for p in paths)
    for name, path in zip(LABELS, paths, strict=True):  # each PNG is logged too
        assert result.log[evaluators.Galleries.png_key(name)].data == path
    for path in paths:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width > image.height > 100


def test_empty_means_constant_for_overlays_and_cases():
    gray = np.full((8, 8), 100, dtype=np.uint8)
    constant = np.full((8, 8), 0.5, np.float32)  # no peak, whatever its level
    one_hot_pixel = np.zeros((8, 8), np.float32)
    one_hot_pixel[2, 3] = 1.0
    marked = gallery._marked_empty(gray)
    assert np.array_equal(gallery.overlay(gray, constant), marked)
    assert not np.array_equal(gallery.overlay(gray, one_hot_pixel), marked)
    made = {
        name: gallery.case(
            label=0,
            kind="true_positive",
            rank=0,
            image_id="a.png",
            probability=0.9,
            threshold=0.5,
            truth="Atelectasis",
            gray=gray,
            heatmap=heatmap,
            boxes=np.zeros((0, 4)),
            box_labels=np.zeros(0),
        )
        for name, heatmap in (("constant", constant), ("hot", one_hot_pixel))
    }
    assert made["constant"]["empty"] is True and made["hot"]["empty"] is False


def test_an_empty_map_is_marked_never_drawn_as_a_plain_xray(tmp_path):
    gray, labels, boxes, box_labels = fake_data()
    empty = np.zeros((SIZE, SIZE), np.float32)
    marked = gallery.overlay(gray[0], empty)
    assert marked.shape == (SIZE, SIZE, 3) and pointing.is_empty(empty)
    assert not np.array_equal(marked, np.dstack([gray[0]] * 3))  # not the bare X-ray
    probs = np.random.default_rng(1).random(labels.shape)
    preds = predictions(gray, labels, boxes, box_labels, probs)
    _, result = run_galleries(preds, gray, lambda i, k: empty, 1, EvalDir(tmp_path))
    table = result.log[evaluators.Galleries.TABLE]
    rows = [dict(zip(table.columns, row, strict=True)) for row in table.rows]
    assert rows and all(row["empty"] is True for row in rows)  # a column to filter on
    for row in rows:  # said on both images; no box and no heat from an empty map
        assert row["xray"].caption == row["gradcam"].caption == f"Grad-CAM: {gallery.EMPTY_MAP}"
        assert row["xray"].boxes["predictions"]["box_data"] == []
        assert (row["xray"].masks["heat"]["mask_data"] == min(gallery.HEAT_CLASSES)).all()
    assert f"{len(rows)} of {len(rows)} maps hold no positive evidence" in result.text


def test_heat_classes_are_the_regions_of_wangs_boxes():
    heatmap = np.zeros((16, 16))
    heatmap[2:5, 3:9] = 0.5  # warm: above 60 of 255, not above 180
    heatmap[10:14, 10:12] = 1.0  # hot
    classes = gallery.heat_classes(heatmap)
    low, mid, high = sorted(gallery.HEAT_CLASSES)
    assert set(np.unique(classes)) == {low, mid, high}
    for level, above in zip(localization.WANG_LEVELS, (mid, high), strict=True):
        regions, _ = scipy.ndimage.label(classes >= above, structure=np.ones((3, 3)))
        slices = scipy.ndimage.find_objects(regions)
        boxes = [(r.start, c.start, r.stop, c.stop) for r, c in slices]
        np.testing.assert_allclose(
            np.divide(boxes, 16), localization.predicted_boxes(heatmap, level)
        )


def test_predicted_boxes_are_scored_against_the_labels_truth_box():
    heatmap = np.zeros((10, 10))
    heatmap[0:5, 0:5] = 1.0
    truth = np.array([[0.0, 0.0, 0.5, 1.0]])  # holds the hot square, twice its size
    found = gallery.scored_boxes(heatmap, truth)
    assert [p["level"] for p in found] == list(localization.WANG_LEVELS)
    for p in found:
        np.testing.assert_allclose(p["box"], [0, 0, 0.5, 0.5])
        assert p["iobb"] == pytest.approx(1.0) and p["iou"] == pytest.approx(0.5)
    assert "iobb" not in gallery.scored_boxes(heatmap, np.zeros((0, 4)))[0]  # no truth: no score


def test_gallery_table_in_an_offline_wandb_run(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    for var in ("WANDB_DIR", "WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    gray, labels, boxes, box_labels = fake_data()
    probs = np.random.default_rng(1).random(labels.shape)
    hot = np.zeros((SIZE, SIZE), dtype=np.float32)
    hot[10:30, 20:40] = 1.0  # a hot square; no model needed here
    preds = predictions(gray, labels, boxes, box_labels, probs)
    run_dir = RunDir.locate(tmp_path / "runs", "quick", None).create({})
    _, result = run_galleries(preds, gray, lambda i, k: hot, 1, run_dir.evaluation())

    run = wandb_logging.init_wandb(config={}, name="quick", run_dir=run_dir.path)
    writer.write([result], wandb_run=run, prefix="test")
    run.finish()
    wandb.teardown()  # flushes the .wandb file (see test_tracking.py)

    # W&B logs a table with media as a "run_table" artifact; the run's own
    # media/table JSON holds only the string "Image" for each image. Offline, the
    # artifact's files are staged in the run directory: nothing lies outside it.
    (wandb_file,) = run_dir.wandb_dir.glob("offline-run-*/run-*.wandb")
    records = read_wandb_records(wandb_file)
    assert_self_contained(records, run_dir.path, tmp_path / "wandb_data_dir")
    (artifact,) = [r.artifact for r in records if r.WhichOneof("record_type") == "artifact"]
    files = {entry.path: entry.local_path for entry in artifact.manifest.contents}
    key = writer.wandb_key("test", evaluators.Galleries.TABLE)
    table = json.loads(pathlib.Path(files[f"{key}.table.json"]).read_text())
    assert table["columns"] == list(gallery.TABLE_COLUMNS)
    rows = [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]
    tp = next(r for r in rows if r["label"] == "Atelectasis" and r["kind"] == "TP")
    ids = list(preds.image_id)
    assert tp["image_id"] in ids[:3] and tp["probability"] == pytest.approx(probs[:3, 0].max())
    val = validation(preds)  # the threshold is the report's max-F1 operating point
    the_report = classification.report(
        test_probs=preds.probs,
        test_labels=preds.labels,
        test_patients=preds.patient_id,
        val_probs=val.probs,
        val_labels=val.labels,
        label_names=LABELS,
        num_bootstrap=10,
    )
    points = the_report["per_label"]["Atelectasis"]["operating_points"]
    assert tp["threshold"] == pytest.approx(points["f1"]["threshold"])
    assert tp["empty"] is False
    for column in ("xray", "gradcam"):
        image = tp[column]
        assert image["_type"] == "image-file" and image["path"] in files
        assert set(image["boxes"]) == set(gallery.BOX_GROUPS)
        found = image["boxes"]["predictions"]
        assert found and all({"iobb", "iou", "level"} <= set(b["scores"]) for b in found)
    mask = tp["xray"]["masks"][gallery.HEAT_MASK]
    assert mask["_type"] == "mask" and mask["path"] in files
    assert "masks" not in tp["gradcam"]  # the overlay is heat already

    # The gallery PNGs are logged too, as the run's own media.
    (history,) = [h for h in items_of(records, "history") if f"{key}._type" in h]
    for name in LABELS:
        png = history[f"{writer.wandb_key('test', evaluators.Galleries.png_key(name))}.path"]
        assert (wandb_file.parent / "files" / png).is_file()
