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

# Decoding, resizing and encoding release the GIL in Pillow, so threads scale with
# cores (measured 2x on 2 cores) and avoid forking a process that holds TensorFlow.
WORKERS_ENV_VAR = "CXR_BUILD_WORKERS"


def build_workers() -> int:
    """Decode threads of a build: $CXR_BUILD_WORKERS, else one per core."""
    return int(os.environ.get(WORKERS_ENV_VAR) or os.cpu_count() or 1)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class UnreadableImage(Exception):
    """An image file that cannot be used; its message says why."""


def to_gray(data: bytes, formats: tuple[str, ...] = ("PNG",)) -> np.ndarray:
    """Decodes image bytes into a 2-D array: uint8, or float32 in [0, 255] for 16-bit.

    Colour images become luminance (for NIH's RGBA files, R == G == B, so this is
    their gray channel) and alpha is dropped. 16-bit images are scaled by 255/65535,
    not clipped, so their full range survives.

    Args:
        data: the bytes of an image file.
        formats: Pillow format names accepted; the builder takes NIH's PNGs only.

    Raises:
        UnreadableImage: for empty, truncated or undecodable data, or another format.
    """
    if not data:
        raise UnreadableImage("empty file (0 bytes)")
    try:
        image = Image.open(io.BytesIO(data))
    except Exception as e:  # Pillow raises many types for files it cannot read.
        if data.startswith(_PNG_SIGNATURE):  # a PNG cut short before its pixels
            raise UnreadableImage(f"cannot decode PNG: {e}") from None
        raise UnreadableImage(f"not a {' or '.join(formats)} image") from None
    if image.format not in formats:
        raise UnreadableImage(f"not a {' or '.join(formats)} ({image.format})")
    try:
        image.load()
    except Exception as e:  # truncated or corrupt data
        raise UnreadableImage(f"cannot decode {image.format}: {e}") from None
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        return np.asarray(image, dtype=np.float32) * (255.0 / 65535.0)
    if image.mode != "L":
        image = image.convert("L")
    return np.asarray(image)


def resize_gray(pixels: np.ndarray, size: int) -> np.ndarray:
    """Resizes a `to_gray` array to uint8 `size` x `size`.

    Downsampling averages areas (Pillow's BOX filter), so thin structures are not
    aliased away; upsampling is bilinear. 16-bit sources are resized in float and
    rounded once.
    """
    shrinking = max(pixels.shape) > size
    resample = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    if pixels.dtype == np.uint8:
        return np.asarray(Image.fromarray(pixels).resize((size, size), resample))
    resized = Image.fromarray(pixels, mode="F").resize((size, size), resample)
    return np.clip(np.rint(np.asarray(resized)), 0, 255).astype(np.uint8)


def resize_png(data: bytes, size: int) -> bytes:
    """Returns PNG `data` as an 8-bit grayscale `size` x `size` PNG.

    Args:
        data: bytes of a PNG file.
        size: side of the output image in pixels.

    Raises:
        UnreadableImage: when `data` is not a usable PNG.
    """
    out = io.BytesIO()
    Image.fromarray(resize_gray(to_gray(data), size)).save(out, format="PNG")
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
