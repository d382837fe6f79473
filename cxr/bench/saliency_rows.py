"""Row 8 of `make bench`: what one saliency map costs, in forward passes.

For each method of `cxr.saliency.registry` at its default options, the seconds per map
on a random-init DenseNet121 at 224 px, against the seconds of one forward pass per
image (`cxr.runtime.distribution.predict`, as the methods call the model) measured in
the same run at the same batch size. The ratio reads "a map costs k forward passes".

Image counts are small so that the row takes about two minutes on 2 quiet CPU cores:
one batch of images for the methods that make a batch of maps in one pass (`batches`:
CAM, Grad-CAM, Grad-CAM++), one image for those whose cost is per image (Integrated
Gradients and SmoothGrad: `steps` or `samples` gradients; occlusion: one forward pass
per square, 169 at 224 px). For those three the warm-up makes one cheap map with the
same model calls (its `warm_up`: one batch of gradients, one occluding square), which compiles what
the timed maps run without paying for hundreds of rows. The images are random in the
model's input space: no method's cost depends on the pixels.
"""

import json
import pathlib

import numpy as np

from cxr.errors import UserError
from cxr.runtime import distribution
from cxr.saliency.methods import saliency_maps
from cxr.saliency.registry import METHODS

BATCH = 8  # rows per model call, for the maps and the forward baseline alike


def images_per_repeat(batch_size=BATCH):
    """{method: maps per timed repeat} of every registered method (`cxr.saliency.registry`):
    a batch where maps come a batch at a time (`Method.batches`), else one image."""
    return {name: batch_size if m.batches else 1 for name, m in METHODS.items()}


def per_image(seconds, n):
    """A `timed` result (seconds of one repeat) divided by the `n` images of a repeat."""
    return {k: seconds[k] / n for k in ("median", "min", "max")}


def map_seconds(model, *, timed, batch_size=BATCH, images=None, repeats=3, seed=0):
    """Seconds per map of each method, and of one forward pass per image.

    Args:
        model: A `keras.Model` from raw [0, 255] images to logits, with the layer
            `cxr.model.layer_names.GRADCAM_LAYER` (the CAM methods' default).
        timed: `cxr.bench.rows.timed`: `(fn, repeats, warm_up=) -> seconds {median, min, max}`.
        batch_size: Rows per model call.
        images: {method: maps per repeat}; None: `images_per_repeat(batch_size)`. Its
            methods are measured.
        repeats: Timed repeats after one warm-up, for every figure.
        seed: Of the random images.

    Returns:
        (forward, {method: (images, seconds per map)}), seconds as {median, min, max}.
    """
    images = images_per_repeat(batch_size) if images is None else images
    side = model.input.shape[1]
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(max(batch_size, *images.values()), side, side, 3)).astype(np.float32)
    labels = np.arange(len(x)) % model.output.shape[-1]
    forward = per_image(
        timed(lambda: distribution.predict(model, x[:batch_size], batch_size), repeats),
        batch_size,
    )
    maps = {}
    for method, n in images.items():

        def make(method=method, n=n, **options):
            saliency_maps(model, x[:n], labels[:n], method=method, batch_size=batch_size, **options)

        cheap = METHODS[method].warm_up_options(batch_size=batch_size, side=side)
        seconds = timed(make, repeats, warm_up=lambda make=make, cheap=cheap: make(**cheap))
        maps[method] = (n, per_image(seconds, n))
    return forward, maps


def row_names(maps, batch_size=BATCH):
    """Each method's row name: the method, its defaults and its image count."""
    names = {}
    for method, (n, _) in maps.items():
        options = ", ".join(f"{k}={v}" for k, v in METHODS[method].defaults.items())
        names[method] = (
            f"8. saliency {method} ({options}; {n} image{'s' * (n > 1)}, batch {batch_size}): "
            "s per map vs s per forward pass"
        )
    return names


def check_alone_out(out):
    """Refuses (`UserError`) to write row 8 alone over a file that holds other rows."""
    out = pathlib.Path(out)
    try:
        others = out.exists() and any(
            not r["row"].startswith("8.") for r in json.loads(out.read_text())["rows"]
        )
    except (ValueError, KeyError, TypeError):  # not a bench file: not ours to replace
        others = True
    if others:
        raise UserError(f"--only saliency: {out} holds more than row 8; name another --out")
