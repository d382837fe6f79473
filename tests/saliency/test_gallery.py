"""Grad-CAM galleries: case selection, signed maps and their colours, PNGs from a tiny
model, the W&B table."""

import json
import pathlib

import keras
import matplotlib
import numpy as np
import pytest
import scipy.ndimage
import wandb
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

from cxr.evaluation import classification, evaluators
from cxr.model import classifier
from cxr.saliency import gallery, localization, pointing
from cxr.saliency.gradcam import class_activation_grid, gradcam, upsample
from cxr.tracking import wandb_logging, writer
from cxr.tracking.rundir import EvalDir, RunDir
from cxr_tfds.labels import LABELS
from tests.helpers.made_up_predictions import SIZE, fake_data, predictions, validation
from tests.helpers.wandb_records import assert_self_contained, items_of, read_wandb_records


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


def run_galleries(preds, gray, heatmap_of, per_kind, eval_dir, cam_of=None):
    """The evaluation stage's protocol: pairs, then each asked-for map, then the result.

    `cam_of` gives the signed grid maps; without it the heatmaps stand in for them."""
    evaluator = evaluators.Galleries(per_kind=per_kind)
    pairs = evaluator.pairs(preds)
    for index, label in pairs:
        heatmap = heatmap_of(index, label)
        cam = heatmap if cam_of is None else cam_of(index, label)
        evaluator.add(index=index, label=label, gray=gray[index], heatmap=heatmap, cam=cam)
    return pairs, evaluator.result(preds=preds, val=validation(preds), eval_dir=eval_dir)


def test_gallery_from_a_tiny_model_writes_one_png_per_label(tmp_path):
    keras.utils.set_random_seed(0)
    model = classifier.build_model(backbone="tiny", num_labels=len(LABELS), image_size=SIZE)
    gray, labels, boxes, box_labels = fake_data()
    x = np.repeat(gray[..., None].astype(np.float32), 3, axis=-1)  # raw: the model normalises
    probs = np.random.default_rng(1).random(labels.shape)  # saves compiling `predict`
    preds = predictions(gray, labels, boxes, box_labels, probs)
    pairs, result = run_galleries(
        preds,
        gray,
        lambda i, k: gradcam(model, x[i : i + 1], k)[0],
        2,
        EvalDir(tmp_path),
        cam_of=lambda i, k: class_activation_grid(model, x[i : i + 1], k)[0],
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


def make_case(cam, *, kind="true_positive", rank=0, gray=None, label=0, **facts):
    """A gallery case of a 16 px image for a hand-made signed map (its heatmap: ReLU'd);
    `facts` override the caption's facts (label_name, image_id, probability, ...)."""
    gray = np.full((16, 16), 100, dtype=np.uint8) if gray is None else gray
    heatmap = gallery.signed_map(np.maximum(cam, 0), gray.shape)
    facts = {
        "label_name": "Atelectasis",
        "image_id": "a.png",
        "probability": 0.9,
        "threshold": 0.5,
        "threshold_rule": "max F1",
        "truth": "Atelectasis",
        **facts,
    }
    return gallery.case(
        label=label,
        kind=kind,
        rank=rank,
        **facts,
        gray=gray,
        heatmap=heatmap,
        cam=np.asarray(cam, dtype=np.float32),
        boxes=np.zeros((0, 4)),
        box_labels=np.zeros(0),
    )


def test_signed_map_is_bilinear_without_relu():
    # Cell centres of a 2-cell row sit at pixels 0.5 and 2.5 of 4 (in cell units -0.25,
    # 0.25, 0.75, 1.25): held flat outside, linear between.
    np.testing.assert_allclose(gallery.signed_map([[-1.0, 1.0]], (1, 4)), [[-1, -0.5, 0.5, 1]])
    grid = np.array([[3.0, -2.0], [0.5, -1.0]])
    np.testing.assert_allclose(gallery.signed_map(grid, (2, 2)), grid)  # same size: itself
    # Against Grad-CAM's own resize on a positive grid, where its ReLU does nothing and
    # its min-max is undone by hand; 1e-5: float32 there.
    positive = np.array([[[0.2, 1.0, 0.4], [0.6, 0.1, 0.9], [0.3, 0.8, 0.5]]])
    ours = gallery.signed_map(positive[0], (16, 16))
    span = ours.max() - ours.min()
    np.testing.assert_allclose(
        upsample(positive, (16, 16))[0], (ours - ours.min()) / span, atol=1e-5
    )


def test_signed_colours_red_for_blue_against_white_at_zero():
    colours = gallery.signed_colours(np.array([-2.0, -1.0, 0.0, 1.0, 2.0, 5.0]), limit=2.0)
    red, blue = colours[4], colours[0]
    assert red[0] > red[1] + 0.3 and red[0] > red[2] + 0.2  # RdBu_r's red end
    assert blue[2] > blue[0] + 0.3 and blue[2] > blue[1] + 0.1  # its blue end
    assert (colours[2] > 0.95).all()  # white: the middle of the scale
    np.testing.assert_allclose(colours[5], colours[4])  # beyond the limit: clipped
    # The colour bar's own mapping, symmetric about 0 (matplotlib's, not ours).
    bar = matplotlib.cm.ScalarMappable(matplotlib.colors.Normalize(-2.0, 2.0), "RdBu_r")
    np.testing.assert_allclose(colours, bar.to_rgba([-2, -1, 0, 1, 2, 2])[:, :3])


def test_signed_overlay_colours_known_pixels():
    gray = np.full((16, 16), 128, dtype=np.uint8)
    cam = np.array([[2.0, -2.0], [0.0, 0.0]])  # for | against, nothing below
    rgb = gallery.signed_overlay(gray, gallery.signed_map(cam, (16, 16)), limit=2.0)
    assert rgb.shape == (16, 16, 3) and rgb.dtype == np.uint8
    red, green, blue = rgb[0, 0].astype(int)  # the top-left cell: +2
    assert red > green + 40 and red > blue + 30
    red, green, blue = rgb[0, 15].astype(int)  # the top-right cell: -2
    assert blue > red + 40 and blue > green + 20
    bottom = rgb[15, 7].astype(int)  # 0: the X-ray lightened evenly, no hue
    assert bottom.max() - bottom.min() <= 3 and bottom.min() > 128


def test_only_a_constant_signed_map_is_marked():
    gray = np.full((16, 16), 100, dtype=np.uint8)
    marked = gallery._marked_empty(gray, gallery.CONSTANT_MAP)
    constant = make_case(np.full((2, 2), -0.3))  # no peak, whatever its level
    against = make_case(np.array([[-0.1, -0.9], [-0.5, -0.2]]))  # ReLU'd: all zero
    assert constant["empty"] is True and against["empty"] is False
    assert against["negative"] is True and make_case([[0.1, -1.0]])["negative"] is False
    assert np.array_equal(gallery.signed_overlay(gray, constant["signed"], 1.0), marked)
    drawn = gallery.signed_overlay(gray, against["signed"], 1.0)
    assert not np.array_equal(drawn, marked)
    assert (drawn[..., 2] > drawn[..., 0]).all()  # all against: blue everywhere


def test_gallery_draws_signed_maps_on_one_symmetric_scale():
    cases = [
        make_case(np.array([[4.0, 0.0], [0.0, 0.0]]), kind="true_positive"),
        make_case(np.array([[-1.0, 0.0], [0.0, -1.0]]), kind="false_positive"),
        make_case(np.full((2, 2), 0.7), kind="false_negative"),
    ]
    fig = gallery.draw_gallery(cases, title="Atelectasis", per_kind=1)
    canvas_ax, bar_ax = fig.axes
    assert bar_ax.get_ylim() == pytest.approx((-4.0, 4.0))  # the largest |value|, both ways
    canvas = canvas_ax.images[0].get_array()
    size, band = 16, 16 // 5  # the layout of `draw_gallery`
    top = [band + row * (size + band) + band for row in range(3)]  # each kind's row
    left = size  # the map beside the X-ray
    red, green, blue = canvas[top[0], left].astype(int)  # +4, the limit: full red
    assert red > green + 40 and red > blue + 30
    red, green, blue = canvas[top[1], left].astype(int)  # -1 of 4: a light blue
    assert blue > red + 10
    np.testing.assert_array_equal(  # the constant map: marked, not drawn
        canvas[top[2] : top[2] + size, left : left + size],
        gallery._marked_empty(cases[2]["gray"], gallery.CONSTANT_MAP),
    )


def test_captions_name_the_label_the_threshold_rule_and_the_truth_on_their_own_lines():
    # Issue 23 item 6: a false positive read "all < 0: no evidence for" / "No Finding".
    against = np.array([[-1.0, -0.5], [-0.2, -2.0]])
    fp = dict(kind="false_positive", label_name="Infiltration", truth="No Finding")
    fp |= dict(threshold=0.0551, probability=0.0712, image_id="00000013_005.png")
    cases = [
        make_case(np.array([[1.0, 0.0], [0.0, -1.0]])),  # evidence both ways: no note
        make_case(against, **fp),
        make_case(np.full((2, 2), 0.3), kind="false_negative", threshold=float("nan")),
    ]
    fig = gallery.draw_gallery(cases, title="Infiltration", per_kind=1)
    texts = [t.get_text() for t in fig.axes[0].texts][1:]  # the first is the title
    assert texts == [gallery.caption(c) for c in cases]  # what is drawn is `caption`
    assert texts[1].split("\n") == [
        "FP 1  p=0.071  threshold 0.055 (max F1)  00000013_005.png",
        "all < 0: no evidence for Infiltration",
        "truth: No Finding",
    ]
    assert texts[0].split("\n") == ["TP 1  p=0.900  threshold 0.500 (max F1)  a.png", "truth: Atelectasis"]  # fmt: skip
    assert texts[2].split("\n")[1:] == [f"Grad-CAM: {gallery.CONSTANT_MAP}", "truth: Atelectasis"]
    assert "threshold n/a (max F1)" in texts[2]


def test_long_captions_fit_their_panels():
    """At the evaluation's 224 px, the longest label and truth stay within their two images."""
    size = 224
    gray = np.full((size, size), 100, dtype=np.uint8)
    truth = ", ".join(LABELS)  # every label: shortened to fit
    cases = [
        make_case(
            -np.eye(2) - 0.1,
            kind=kind,
            gray=gray,
            label_name="Pleural_Thickening",
            truth=truth,
            image_id="00030805_000.png",
        )  # fmt: skip
        for kind in gallery.KINDS
    ]
    fig = gallery.draw_gallery(cases, title="Pleural_Thickening", per_kind=1)
    renderer = FigureCanvasAgg(fig).get_renderer()
    ax = fig.axes[0]
    # The panel pair spans 2 * size image pixels; the next pair starts a gap later.
    # Above it, a band of size // 5 pixels holds the caption.
    corners = ax.transData.transform([(0, 0), (2 * size + size // 16, size // 5)])
    width, band = np.abs(corners[1] - corners[0])
    for text in ax.texts[1:]:
        assert "no evidence for Pleural_Thickening" in text.get_text()
        extent = text.get_window_extent(renderer)
        assert extent.width < width and extent.height < band


def test_an_empty_map_is_marked_never_drawn_as_a_plain_xray(tmp_path):
    gray, labels, boxes, box_labels = fake_data()
    empty = np.zeros((SIZE, SIZE), np.float32)
    marked = gallery.overlay(gray[0], empty)  # `cxr predict`'s overlay of a [0, 1] map
    assert marked.shape == (SIZE, SIZE, 3) and pointing.is_empty(empty)
    assert not np.array_equal(marked, np.dstack([gray[0]] * 3))  # not the bare X-ray
    probs = np.random.default_rng(1).random(labels.shape)
    preds = predictions(gray, labels, boxes, box_labels, probs)
    _, result = run_galleries(preds, gray, lambda i, k: empty, 1, EvalDir(tmp_path))
    table = result.log[evaluators.Galleries.TABLE]
    rows = [dict(zip(table.columns, row, strict=True)) for row in table.rows]
    assert rows and all(row["empty"] is True for row in rows)  # a column to filter on
    for row in rows:  # said on both images; no box and no heat from an empty map
        words = f"Grad-CAM: {gallery.CONSTANT_MAP}"
        assert row["xray"].caption == row["gradcam"].caption == words
        assert row["xray"].boxes["predictions"]["box_data"] == []
        assert (row["xray"].masks["heat"]["mask_data"] == min(gallery.HEAT_CLASSES)).all()
    assert f"0 of {len(rows)} all against, {len(rows)} constant, marked so" in result.text


def test_signed_maps_all_against_the_label_are_drawn_and_counted(tmp_path):
    gray, labels, boxes, box_labels = fake_data()
    against = np.array([[-0.2, -0.5], [-0.1, -0.9]], np.float32)  # varies, all below 0
    preds = predictions(
        gray, labels, boxes, box_labels, np.random.default_rng(1).random(labels.shape)
    )
    zeros = np.zeros((SIZE, SIZE), np.float32)  # its ReLU'd map: blank
    _, result = run_galleries(
        preds, gray, lambda i, k: zeros, 1, EvalDir(tmp_path), cam_of=lambda i, k: against
    )
    table = result.log[evaluators.Galleries.TABLE]
    rows = [dict(zip(table.columns, row, strict=True)) for row in table.rows]
    assert rows and not any(row["empty"] for row in rows)
    assert all("RdBu_r over -0.9 .. +0.9" in row["gradcam"].caption for row in rows)
    assert f"{len(rows)} of {len(rows)} all against)" in result.text


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
