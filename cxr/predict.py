"""Predicts the 14 findings of single X-rays with a trained run, with Grad-CAM overlays.

    python -m cxr.predict IMAGE... --run runs/<NAME>/<run id> --out DIR [--top 3]
    cxr-predict IMAGE... --run runs/<NAME>/<run id> --out DIR

Reads PNG or JPEG of any size and mode (gray, RGB, RGBA, 16-bit), prints the label
names with their probabilities, highest first, and writes
`DIR/<image stem>_<Label>.png` overlays for the top labels. Bad input (an image
that is not one, a model that is missing or not ours) is a one-line error and
exit code 2.
"""

import argparse
import pathlib
import sys

import keras
import numpy as np
from PIL import Image

import cxr.train  # noqa: F401  (registers the custom loss a saved model may name)
from cxr import data, gallery, gradcam, tracking
from cxr import model as model_lib
from cxr_tfds.cxr14_subset import images
from cxr_tfds.labels import LABELS


class BadInput(Exception):
    """Input the user must fix; its message is the one line shown."""


def load_run_model(run: str) -> keras.Model:
    """Loads `<run>/model.keras` (or a .keras path) in Keras safe mode and checks it is ours."""
    path = pathlib.Path(run)
    path = path / tracking.MODEL_FILE if path.is_dir() else path
    if not path.is_file():
        raise BadInput(f"no model at {path}; pass --run runs/<NAME>/<run id> of a finished run")
    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except Exception as e:  # any unreadable or foreign file
        reason = (str(e).strip().splitlines() or [""])[0]
        raise BadInput(
            f"{path} is not a Keras model cxr can load ({type(e).__name__}: {reason})"
        ) from None
    names = {layer.name for layer in model.layers}
    if not {model_lib.GRADCAM_LAYER, model_lib.LOGITS_LAYER} <= names or model.output.shape[
        -1
    ] != len(LABELS):
        raise BadInput(f"{path} is not a cxr model (DenseNet121 with a {len(LABELS)}-label head)")
    return model


def read_image(path: pathlib.Path, size: int) -> np.ndarray:
    """The file as a uint8 gray `size` x `size` array, resized as the dataset builder does."""
    try:
        return images.resize_gray(images.to_gray(path.read_bytes(), ("PNG", "JPEG")), size)
    except (images.UnreadableImage, OSError) as e:
        raise BadInput(f"{path}: {e}") from None


def predict(image_paths, run, out_dir, top=3):
    """Prints each image's probabilities and writes overlays for its `top` labels.

    Returns:
        {image path: {label: probability}}.
    """
    model = load_run_model(run)
    size = model.input.shape[1]
    grays = np.stack([read_image(pathlib.Path(p), size) for p in image_paths])
    x = np.asarray(data.preprocess(grays[..., None]))
    probs = keras.ops.convert_to_numpy(keras.ops.sigmoid(model.predict(x, verbose=0)))
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = {}
    for i, path in enumerate(image_paths):
        order = np.argsort(-probs[i])
        print(f"{path}")
        for k in order:
            print(f"  {LABELS[k]:<20} {probs[i, k]:.3f}")
        heatmaps = gradcam.gradcam(model, np.repeat(x[i : i + 1], top, axis=0), order[:top])
        for k, heatmap in zip(order[:top], heatmaps, strict=True):
            target = out_dir / f"{pathlib.Path(path).stem}_{LABELS[k]}.png"
            Image.fromarray(gallery.overlay(grays[i], heatmap)).save(target)
        results[str(path)] = {LABELS[k]: float(probs[i, k]) for k in order}
    print(f"Grad-CAM overlays of the top {top} labels: {out_dir}")
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="+", help="PNG or JPEG files")
    parser.add_argument("--run", required=True, help="a run directory, or its model.keras")
    parser.add_argument("--out", required=True, help="folder for the Grad-CAM overlays")
    parser.add_argument("--top", type=int, default=3, help="labels to draw Grad-CAM for")
    args = parser.parse_args(argv)
    try:
        predict(args.images, args.run, args.out, args.top)
    except BadInput as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
