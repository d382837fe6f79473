"""`python -m cxr.predict`: any image mode in, sorted probabilities and overlays out, clean errors."""

import keras
import numpy as np
import pytest
from PIL import Image

from cxr import model as model_lib
from cxr import predict
from cxr_tfds.labels import LABELS


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    keras.utils.set_random_seed(1)
    model_lib.build_model(image_size=64).save(run / "model.keras")
    return run


def write(path, array, fmt="PNG"):
    Image.fromarray(array).save(path, fmt)
    return str(path)


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    gray = np.random.default_rng(0).integers(0, 256, (300, 250), dtype=np.uint8)
    return [
        write(folder / "gray.png", gray),
        write(folder / "rgb.jpg", np.dstack([gray] * 3), "JPEG"),
        write(folder / "rgba.png", np.dstack([gray] * 3 + [np.full_like(gray, 255)])),
        write(folder / "deep.png", gray.astype(np.uint16) * 257),
    ]


def test_prints_sorted_probabilities_and_writes_overlays(run_dir, image_files, tmp_path, capsys):
    assert (
        predict.main([*image_files, "--run", str(run_dir), "--out", str(tmp_path), "--top", "2"])
        == 0
    )
    out = capsys.readouterr().out
    block = out.split(image_files[0])[1].split(image_files[1])[0]
    probs = [float(line.split()[-1]) for line in block.strip().splitlines()]
    assert len(probs) == len(LABELS) and probs == sorted(probs, reverse=True)
    overlays = sorted(tmp_path.glob("*.png"))
    assert len(overlays) == 2 * len(image_files)
    assert Image.open(overlays[0]).size == (64, 64) and Image.open(overlays[0]).mode == "RGB"


def test_gray_and_16bit_give_the_same_prediction(run_dir, image_files, tmp_path):
    results = predict.predict(image_files, str(run_dir), str(tmp_path), top=1)
    gray, deep = results[image_files[0]], results[image_files[3]]
    assert gray == pytest.approx(deep, abs=1e-4)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_bytes(b"not an image"), "not a PNG or JPEG image"),
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: Image.new("L", (8, 8)).save(p, "GIF"), "not a PNG or JPEG (GIF)"),
    ],
)
def test_bad_image_is_one_line_and_exit_2(run_dir, tmp_path, capsys, make, message):
    bad = tmp_path / "bad.png"
    make(bad)
    assert predict.main([str(bad), "--run", str(run_dir), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "bad.png" in err


def test_missing_or_foreign_model_is_one_line_and_exit_2(image_files, tmp_path, capsys):
    assert (
        predict.main([image_files[0], "--run", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    )
    assert "no model at" in capsys.readouterr().err
    foreign = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    foreign.save(tmp_path / "model.keras")
    assert predict.main([image_files[0], "--run", str(tmp_path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a cxr model" in err
    (tmp_path / "model.keras").write_bytes(b"junk")
    assert predict.main([image_files[0], "--run", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "is not a Keras model cxr can load" in capsys.readouterr().err
