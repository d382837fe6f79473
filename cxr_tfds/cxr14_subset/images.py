"""Turns NIH PNG bytes into resized 8-bit grayscale PNG bytes, in parallel.

NIH published 1024x1024 8-bit PNGs, but real copies differ: 5 of the 195 sample
images are RGBA (R == G == B, alpha 255), users resample or re-save them (16-bit,
other sizes), and downloads get truncated. Every image goes through `resize_png`;
whatever cannot be read raises `UnreadableImage` with a reason, so the build can
skip it, count it and go on.
"""

import collections
import concurrent.futures
import io
import os
from collections.abc import Callable, Iterable, Iterator

import numpy as np
from PIL import Image

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Decoding, resizing and encoding release the GIL in Pillow, so threads scale with
# cores (measured 2x on 2 cores) and avoid forking a process that holds TensorFlow.
WORKERS_ENV_VAR = "CXR_BUILD_WORKERS"


def build_workers() -> int:
    """Decode threads of a build: $CXR_BUILD_WORKERS, else one per core."""
    return int(os.environ.get(WORKERS_ENV_VAR) or os.cpu_count() or 1)


class UnreadableImage(Exception):
    """An image file that cannot be used; its message says why."""


def to_gray(data: bytes) -> np.ndarray:
    """Decodes PNG bytes into a 2-D array: uint8, or float32 in [0, 255] for 16-bit.

    Colour images become luminance (for NIH's RGBA files, R == G == B, so this is
    their gray channel) and alpha is dropped. 16-bit images are scaled by 255/65535,
    not clipped, so their full range survives.

    Raises:
        UnreadableImage: for empty, truncated or non-PNG data.
    """
    if not data:
        raise UnreadableImage("empty file (0 bytes)")
    if not data.startswith(_PNG_SIGNATURE):
        raise UnreadableImage("not a PNG (bad signature)")
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as e:  # Pillow raises many types for broken files.
        raise UnreadableImage(f"cannot decode PNG: {e}") from None
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        return np.asarray(image, dtype=np.float32) * (255.0 / 65535.0)
    if image.mode != "L":
        image = image.convert("L")
    return np.asarray(image)


def resize_png(data: bytes, size: int) -> bytes:
    """Returns `data` as an 8-bit grayscale `size` x `size` PNG.

    Downsampling averages areas (Pillow's BOX filter), so thin structures are not
    aliased away; upsampling is bilinear.

    Args:
        data: bytes of a PNG file.
        size: side of the output image in pixels.

    Raises:
        UnreadableImage: when `data` is not a usable PNG.
    """
    pixels = to_gray(data)
    shrinking = max(pixels.shape) > size
    resample = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    if pixels.dtype == np.uint8:
        image = Image.fromarray(pixels).resize((size, size), resample)
    else:  # Resize 16-bit sources in float, then round once.
        resized = Image.fromarray(pixels, mode="F").resize((size, size), resample)
        image = Image.fromarray(np.clip(np.rint(np.asarray(resized)), 0, 255).astype(np.uint8))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def parallel_map(
    fn: Callable, items: Iterable, workers: int, window: int = 64
) -> Iterator[tuple[object, object, Exception | None]]:
    """Yields (item, fn(item), None) or (item, None, error) in input order.

    At most `window` items are in flight, so a 42 GB archive streams through a
    bounded amount of memory.
    """
    with concurrent.futures.ThreadPoolExecutor(max(1, workers)) as pool:
        pending = collections.deque()
        for item in items:
            pending.append((item, pool.submit(fn, item)))
            if len(pending) >= window:
                yield _result(*pending.popleft())
        while pending:
            yield _result(*pending.popleft())


def _result(item, future):
    try:
        return item, future.result(), None
    except Exception as e:  # Reported per item; one bad file must not stop a build.
        return item, None, e
