"""`cxr-predict`: files and folders of any image kind in, CSV and overlays out, clean errors."""

import csv
import json
import pathlib
import shutil

import keras
import numpy as np
import pytest
from PIL import Image

from cxr.data import datasets
from cxr.inference import drawing, operating_points, predict, scoring
from cxr.model import classifier
from cxr.tracking.rundir import EvalDir, RunDir
from cxr_tfds.labels import LABELS
from tests.helpers.dicom_files import make_dataset, save


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    keras.utils.set_random_seed(1)
    classifier.build_model(backbone="tiny", image_size=64).save(run / "model.keras")
    return run


def write(path, array, fmt="PNG"):
    Image.fromarray(array).save(path, fmt)
    return str(path)


GRAY = np.random.default_rng(0).integers(0, 256, (300, 250), dtype=np.uint8)


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    # min-max of an 8-bit DICOM spanning 0..255 is the identity: the same pixels as gray.png.
    assert GRAY.min() == 0 and GRAY.max() == 255
    return [
        write(folder / "gray.png", GRAY),
        write(folder / "rgb.jpg", np.dstack([GRAY] * 3), "JPEG"),
        write(folder / "rgba.png", np.dstack([GRAY] * 3 + [np.full_like(GRAY, 255)])),
        write(folder / "deep.png", GRAY.astype(np.uint16) * 257),
        str(save(make_dataset(GRAY, bits_stored=8), folder / "mono2.dcm")),
        str(
            save(
                make_dataset(255 - GRAY, bits_stored=8, photometric="MONOCHROME1"),
                folder / "mono1.dcm",
            )
        ),
    ]


def main(*argv):
    """The exit code of `cxr-predict argv` (0, or the `SystemExit` code)."""
    try:
        return predict.main([str(a) for a in argv])
    except SystemExit as e:
        return e.code


def test_prints_sorted_probabilities_and_writes_csv_and_overlays(
    run_dir, image_files, tmp_path, capsys
):
    assert main(*image_files, "--run", run_dir, "--out", tmp_path, "--top", "2") == 0
    out = capsys.readouterr().out
    block = out.split(image_files[0])[1].split(image_files[1])[0]
    printed = {line.split()[0]: float(line.split()[1]) for line in block.strip().splitlines()}
    assert list(printed.values()) == sorted(printed.values(), reverse=True)
    with open(tmp_path / predict.PREDICTIONS_CSV) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["path", *LABELS] and [r[0] for r in rows[1:]] == image_files
    in_csv = {k: float(v) for k, v in zip(LABELS, rows[1][1:], strict=True)}
    assert in_csv == pytest.approx(printed, abs=5e-4)  # printed with 3 decimals
    overlays = sorted(tmp_path.glob("*.png"))
    assert len(overlays) == 2 * len(image_files)
    assert Image.open(overlays[0]).size == (64, 64) and Image.open(overlays[0]).mode == "RGB"


def test_every_kind_of_the_same_image_gives_the_same_prediction(run_dir, image_files, tmp_path):
    results = predict.predict(image_files, str(run_dir), str(tmp_path), top=1)
    size = 64
    grays = [predict.read_image(pathlib.Path(p), size) for p in image_files]
    # 16-bit PNG, MONOCHROME2 and inverted MONOCHROME1 DICOM decode to the same pixels
    # and take the same float resize: identical arrays, so the same predictions (up to
    # a batch row's kernels: 3e-8 measured between identical rows).
    deep, mono2, mono1 = grays[3:]
    np.testing.assert_array_equal(deep, mono2)
    np.testing.assert_array_equal(deep, mono1)
    for other in image_files[4:]:
        assert results[other] == pytest.approx(results[image_files[3]], abs=1e-6)
    # 8-bit sources take Pillow's fixed-point resize (`images.resize_gray`): at most one
    # gray level apart from the float resize, never another image.
    assert np.abs(deep.astype(int) - grays[0]).max() <= 1
    np.testing.assert_array_equal(grays[2], grays[0])  # RGBA: the gray plus opaque alpha
    # Each result is the model's output on exactly those pixels, highest first.
    model = predict.load_run_model(run_dir)
    expected = scoring.probabilities(model, datasets.gray_model_input(np.stack(grays)), 32)
    for path, probs in zip(image_files, expected, strict=True):
        assert results[path] == pytest.approx(
            dict(zip(LABELS, probs.tolist(), strict=True)), abs=1e-6
        )
        assert list(results[path].values()) == sorted(results[path].values(), reverse=True)


def test_folders_give_their_images_sorted_and_skip_unreadable_ones(
    run_dir, image_files, tmp_path, capsys
):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "b.png").write_bytes(open(image_files[0], "rb").read())
    (folder / "a.dcm").write_bytes(open(image_files[4], "rb").read())
    (folder / "c.dcm").write_bytes(b"not DICOM")
    (folder / "notes.txt").write_text("not an image, and not looked at")
    out = tmp_path / "out"
    assert main(folder, tmp_path / "missing.png", "--run", run_dir, "--out", out, "--top", "1") == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"skipped {tmp_path / 'missing.png'}: no such file or folder",
        f"skipped {folder / 'c.dcm'}: not a DICOM file (no DICM header); pass a DICOM, PNG or JPEG image",
    ]
    rows = list(csv.reader(open(out / predict.PREDICTIONS_CSV)))
    assert [r[0] for r in rows[1:]] == [str(folder / "a.dcm"), str(folder / "b.png")]
    assert "2 images; 2 skipped" in captured.out


def test_same_names_from_two_folders_get_their_own_overlays(run_dir, image_files, tmp_path):
    for name in ("x", "y"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "img.png").write_bytes(open(image_files[0], "rb").read())
    predict.predict([tmp_path / "x", tmp_path / "y"], run_dir, tmp_path / "out", top=1)
    names = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert len(names) == 2 and names[0].startswith("img_2_") and not names[1].startswith("img_2")


@pytest.mark.parametrize(
    "name, make, message",
    [
        ("bad.png", lambda p: p.write_bytes(b"not an image"), "not a PNG or JPEG image"),
        ("bad.png", lambda p: p.write_bytes(b""), "empty file"),
        ("bad.png", lambda p: Image.new("L", (8, 8)).save(p, "GIF"), "not a PNG or JPEG (GIF)"),
        ("bad.dcm", lambda p: p.write_bytes(b"DICM but not at 128"), "not a DICOM file"),
    ],
)
def test_nothing_readable_is_exit_2_with_one_line_per_file(
    run_dir, tmp_path, capsys, name, make, message
):
    bad = tmp_path / name
    make(bad)
    assert main(bad, "--run", run_dir, "--out", tmp_path / "out") == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and message in lines[0] and name in lines[0]
    assert lines[1] == "error: no image could be read (1 skipped, listed above)"
    assert list((tmp_path / "out").iterdir()) == []  # no header-only predictions.csv


def test_a_run_failing_midway_leaves_no_csv(run_dir, image_files, tmp_path, monkeypatch):
    calls = []

    def fails_on_the_second_batch(*args):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("out of memory")
        return heatmaps(*args)

    heatmaps = predict._heatmaps
    monkeypatch.setattr(predict, "_heatmaps", fails_on_the_second_batch)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="out of memory"):
        predict.predict(image_files[:2], run_dir, out, top=1, batch_size=1)
    assert len(calls) == 2
    # The first batch's overlay is drawn, but no CSV, whole or partial, says "results".
    assert sorted(p.suffix for p in out.iterdir()) == [".png"]


def test_missing_or_foreign_model_is_one_line_and_exit_2(image_files, tmp_path, capsys):
    assert main(image_files[0], "--run", tmp_path / "nope", "--out", tmp_path) == 2
    assert "no model at" in capsys.readouterr().err
    foreign = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    foreign.save(tmp_path / "model.keras")
    assert main(image_files[0], "--run", tmp_path, "--out", tmp_path) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a cxr model" in err
    (tmp_path / "model.keras").write_bytes(b"junk")
    assert main(image_files[0], "--run", tmp_path, "--out", tmp_path) == 2
    assert "is not a Keras model cxr can load" in capsys.readouterr().err


@pytest.fixture(scope="module")
def frozen_run(run_dir, tmp_path_factory):
    """The run's model with an all-zero logits kernel: no label has positive evidence."""
    model = keras.saving.load_model(run_dir / "model.keras")
    logits = model.get_layer(classifier.LOGITS_LAYER)
    logits.kernel.assign(np.zeros(logits.kernel.shape, dtype="float32"))
    run = tmp_path_factory.mktemp("frozen")
    model.save(run / "model.keras")
    return run


def test_empty_gradcam_is_a_notice_not_a_bare_xray(frozen_run, image_files, tmp_path, capsys):
    assert main(image_files[0], "--run", frozen_run, "--out", tmp_path, "--top", "3") == 0
    out = capsys.readouterr().out
    assert out.count("no positive Grad-CAM evidence for") == 3
    pngs = sorted(tmp_path.glob("*.png"))
    assert len(pngs) == 3
    notices = [np.asarray(Image.open(p)) for p in pngs]
    for notice in notices:
        # Wider than the 64-pixel input (legible text) and topped by a band,
        # so it cannot pass for an overlay of the bare X-ray.
        assert notice.shape[1] >= drawing.NOTICE_WIDTH and notice.shape[0] > notice.shape[1]
        assert tuple(notice[1, -2]) == drawing.BAND_COLOUR
    # Each names its label: no two of the three are the same picture.
    assert not np.array_equal(notices[0], notices[1]) and not np.array_equal(notices[1], notices[2])


VAL = {"name": "cxr14_subset/224", "val_split": "validation"}


@pytest.fixture(scope="module")
def decided(run_dir, tmp_path_factory):
    """A run whose validation predictions put each label's Youden threshold 0.01 above
    (even labels) or below (odd labels) gray.png's probability; Hernia has no positive.

    Returns:
        (run directory, the thresholds, gray.png's probabilities).
    """
    run = RunDir(tmp_path_factory.mktemp("decided") / "run").create({"data": VAL})
    shutil.copy(run_dir / "model.keras", run.model_file)
    model = keras.saving.load_model(run.model_file)
    gray = predict.read_image(image_path(tmp_path_factory), model.input.shape[1])
    probs = scoring.probabilities(model, datasets.gray_model_input(gray[None]), 1)[0]
    thresholds = np.where(np.arange(len(LABELS)) % 2, probs - 0.01, probs + 0.01)
    # Per label, 3 positives at and above the threshold and 3 negatives below it: the
    # classes are separated, so Youden's J is 1 at the lowest positive alone.
    t = thresholds[None, :]
    val_probs = np.concatenate([t, (t + 1) / 2, (t + 2) / 3, t / 2, t / 3, t / 4])
    val_labels = np.repeat([[1.0], [0.0]], 3, axis=0) * np.ones((1, len(LABELS)))
    val_labels[:, LABELS.index("Hernia")] = 0
    folder = run.evaluation(VAL["name"], VAL["val_split"])
    folder.path.mkdir(parents=True)
    folder.file(EvalDir.PREDICTIONS).write_bytes(
        EvalDir.encode_predictions(
            image_id=[f"{i}.png" for i in range(6)],
            patient_id=np.arange(6),
            labels=val_labels,
            probs=val_probs,
            label_names=LABELS,
            dataset=VAL["name"],
            split=VAL["val_split"],
        )
    )
    return run.path, np.float32(thresholds), probs


def image_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("one") / "gray.png"
    Image.fromarray(GRAY).save(path)
    return path


def test_youden_decisions_in_csv_terminal_and_overlays(decided, image_files, tmp_path, capsys):
    run, thresholds, _ = decided
    assert main(image_files[0], "--run", run, "--out", tmp_path, "--operating-point", "youden") == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "Operating point youden, chosen on validation of cxr14_subset/224:" in out
    header, row = list(csv.reader(open(tmp_path / predict.PREDICTIONS_CSV)))
    assert header == ["path", *LABELS, *(f"{label}_decision" for label in LABELS)]
    stored = json.loads((tmp_path / predict.THRESHOLDS_JSON).read_text())
    assert stored["operating_point"] == "youden" and stored["min_positives"] == 10
    assert stored["chosen_on"] == {"dataset": VAL["name"], "split": VAL["val_split"]}
    hernia = LABELS.index("Hernia")
    for k, label in enumerate(LABELS):
        decision, point = row[1 + len(LABELS) + k], stored["labels"][label]
        if k == hernia:
            assert decision == "unsupported"
            assert (
                point["threshold"] is None and point["unsupported"] == "no positive in validation"
            )
            assert (point["positives"], point["negatives"], point["few_positives"]) == (0, 6, False)
            assert "youden unsupported: no positive in validation (0 positives, 6 negatives)" in out
            continue
        # The stored threshold is the one that decided, exactly; 3 positives and 3 negatives.
        assert point["threshold"] == float(thresholds[k])
        assert (point["sensitivity"], point["specificity"]) == (1.0, 1.0)
        assert (point["positives"], point["negatives"], point["few_positives"]) == (3, 3, True)
        assert (
            f"  {label:<20} youden threshold {thresholds[k]:.4f}; validation sensitivity 1.000, "
            "specificity 1.000 (3 positives, 3 negatives)\n"
        ) in out
        # Thresholds sit 0.01 from the image's probability: odd labels above it.
        assert decision == ("positive" if k % 2 else "negative")
        assert decision == ("positive" if float(row[1 + k]) >= thresholds[k] else "negative")
        assert f"  {label:<20} {float(row[1 + k]):.3f}  {decision}" in out  # printed too
    # One warning line names the 13 labels resting on 3 positives (Hernia has no threshold).
    warning = [line for line in captured.err.splitlines() if line.startswith("warning:")]
    assert warning == [
        "warning: 13 thresholds rest on fewer than 10 validation positives, so their "
        "validation rates are rough: "
        + ", ".join(f"{label} (3)" for label in LABELS if label != "Hernia")
    ]
    pngs = sorted(tmp_path.glob("gray_*.png"))
    assert len(pngs) == 3
    for png in pngs:  # each overlay is topped by its decision's band, one style for all
        picture = np.asarray(Image.open(png))
        assert picture.shape[1] >= drawing.NOTICE_WIDTH
        assert tuple(picture[1, -2]) == drawing.BAND_COLOUR
    # A later run without an operating point leaves no thresholds.json to misdescribe it.
    assert main(image_files[0], "--run", run, "--out", tmp_path, "--top", "1") == 0
    assert not (tmp_path / predict.THRESHOLDS_JSON).exists()
    assert next(csv.reader(open(tmp_path / predict.PREDICTIONS_CSV))) == ["path", *LABELS]


def decision_band(probability, heatmap):
    """The band rows of a decision drawn over `heatmap` (one band, or two over a notice)."""
    point = operating_points.OperatingPoint("Mass", "youden", 0.5, 0.8, 0.7, 13, 200)
    gray = np.full((64, 64), 120, np.uint8)
    png = drawing.overlay(
        gray, heatmap, "Mass", decision=drawing.decision_lines(point, probability)
    )
    scale = png.shape[1] / 64  # the picture, scaled to the band's width, is at the bottom
    return png[: png.shape[0] - round(64 * scale)]


@pytest.mark.parametrize("empty_map", [False, True])
def test_decision_bands_share_one_neutral_style(empty_map):
    heatmap = np.zeros((64, 64)) if empty_map else np.linspace(0, 1, 64 * 64).reshape(64, 64)
    positive, negative = decision_band(0.9, heatmap), decision_band(0.1, heatmap)
    for band in (positive, negative):
        # Gray text on gray: no pixel of any band has a hue (a green "POSITIVE" over a
        # red notice had), and the decision's colour is not what tells it.
        assert (band[..., 0] == band[..., 1]).all() and (band[..., 1] == band[..., 2]).all()
        assert tuple(band[1, -2]) == drawing.BAND_COLOUR
    assert positive.shape == negative.shape and not np.array_equal(positive, negative)


def test_operating_points_need_a_run_with_validation_predictions(
    decided, run_dir, image_files, tmp_path, capsys
):
    out = tmp_path / "out"
    args = (image_files[0], "--out", out, "--operating-point")
    assert main(*args, "sensitivity=2", "--run", decided[0]) == 2
    assert "--operating-point 'sensitivity=2': use f1, youden" in capsys.readouterr().err
    assert main(*args, "youden", "--run", run_dir) == 2  # a model without its run
    assert "is not a run directory" in capsys.readouterr().err
    bare = RunDir(tmp_path / "bare").create({"data": VAL})
    shutil.copy(run_dir / "model.keras", bare.model_file)
    assert main(*args, "specificity=0.9", "--run", bare.model_file) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cxr evaluate --run {bare.path} --split 'validation'" in err
    assert not out.exists()  # nothing written before the error
