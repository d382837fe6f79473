"""Grad-CAM galleries: case selection, overlays, PNGs from a tiny model, the W&B table."""

import json
import pathlib

import keras
import numpy as np
import pytest
import wandb
from PIL import Image
from test_tracking import read_wandb_records

from cxr import evaluate, evaluators, gallery, writer
from cxr import model as cxr_model
from cxr.gradcam import gradcam
from cxr.rundir import EvalDir
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
    """What `cxr.evaluate.predict_split` gives the evaluators, for made-up data."""
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


def run_galleries(preds, gray, heatmap_of, per_kind, eval_dir):
    """The evaluation stage's protocol: pairs, then each asked-for map, then the result."""
    evaluator = evaluators.Galleries(per_kind=per_kind)
    pairs = evaluator.pairs(preds)
    for index, label in pairs:
        evaluator.add(index=index, label=label, gray=gray[index], heatmap=heatmap_of(index, label))
    return pairs, evaluator.result(preds=preds, val=None, eval_dir=eval_dir)


def test_gallery_from_a_tiny_model_writes_one_png_per_label(tmp_path):
    keras.utils.set_random_seed(0)
    model = cxr_model.build_model(num_labels=len(LABELS), image_size=SIZE)
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
    for path in paths:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width > image.height > 100


def test_an_empty_map_is_marked_never_drawn_as_a_plain_xray(tmp_path):
    gray, labels, boxes, box_labels = fake_data()
    empty = np.zeros((SIZE, SIZE), np.float32)
    marked = gallery.overlay(gray[0], empty)
    assert marked.shape == (SIZE, SIZE, 3) and gallery.is_empty(empty)
    assert not np.array_equal(marked, np.dstack([gray[0]] * 3))  # not the bare X-ray
    probs = np.random.default_rng(1).random(labels.shape)
    preds = predictions(gray, labels, boxes, box_labels, probs)
    _, result = run_galleries(preds, gray, lambda i, k: empty, 1, EvalDir(tmp_path))
    rows = result.log["gradcam/gallery"].rows
    assert rows and all(row[-1].caption == f"Grad-CAM: {gallery.EMPTY_MAP}" for row in rows)
    assert f"{len(rows)} of {len(rows)} maps hold no positive evidence" in result.text


def test_gallery_table_in_an_offline_wandb_run(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    for var in ("WANDB_DIR", "WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    gray, labels, boxes, box_labels = fake_data()
    probs = np.random.default_rng(1).random(labels.shape)
    hot = np.zeros((SIZE, SIZE), dtype=np.float32)
    hot[10:30, 20:40] = 1.0  # a hot square; no model needed here
    preds = predictions(gray, labels, boxes, box_labels, probs)
    _, result = run_galleries(preds, gray, lambda i, k: hot, 1, EvalDir(tmp_path / "eval"))

    run = wandb.init(project="cxr-test", dir=tmp_path)
    writer.write([result], wandb_run=run, prefix="test")
    run.finish()
    wandb.teardown()  # flushes the .wandb file (see test_tracking.py)

    # W&B logs a table with media as a "run_table" artifact; offline, its files
    # stay in the staging dir that the .wandb file's manifest points to.
    (wandb_file,) = tmp_path.glob("wandb/offline-run-*/run-*.wandb")
    records = read_wandb_records(wandb_file)
    (artifact,) = [r.artifact for r in records if r.WhichOneof("record_type") == "artifact"]
    files = {entry.path: entry.local_path for entry in artifact.manifest.contents}
    table = json.loads(pathlib.Path(files["test/gradcam/gallery.table.json"]).read_text())
    assert table["columns"] == list(gallery.TABLE_COLUMNS)
    rows = [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]
    tp = next(r for r in rows if r["label"] == "Atelectasis" and r["kind"] == "true_positive")
    ids = list(preds.image_id)
    assert tp["image_id"] in ids[:3] and tp["probability"] == pytest.approx(probs[:3, 0].max())
    for column in ("xray", "gradcam"):
        assert tp[column]["_type"] == "image-file" and tp[column]["path"] in files
        assert "ground_truth" in tp[column]["boxes"]
