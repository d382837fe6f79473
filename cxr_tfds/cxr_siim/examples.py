"""One SIIM example's pixels: the DICOM as a resized gray PNG, its mask scaled to match.

The DICOM is read by `cxr_tfds.dicom` (cxr-predict's rules: modality LUT, VOI LUT or
window, MONOCHROME1 inverted), then resized as every cxr builder resizes
(`cxr14_subset.images.resize_gray`: area average when shrinking).

The mask (the union of the image's regions, decoded on the 1024 x 1024 grid) is scaled
by the same area average, and a pixel of the S x S mask is 255 where at least half of
its area lies inside the 1024 px mask, else 0. At 64 px a pixel covers 16 x 16 of the
originals, and a mask that covers no pixel by half comes out empty: the build log
counts them, and mask scores leave such images out.
"""

import io
import zlib

import numpy as np
from PIL import Image

from cxr_tfds import dicom
from cxr_tfds.cxr14_subset import images
from cxr_tfds.cxr_siim import rle

MASK_ON = 255  # the value of a mask pixel inside the pneumothorax
HALF = 0.5  # the share of a scaled pixel's area that must be inside


class WrongSize(Exception):
    """A DICOM whose pixels are not the 1024 x 1024 grid its run-length code is over."""


def split_of(image_id: str, validation_percent: int, test_percent: int) -> str:
    """`test`, `validation` or `train` by CRC32 of the image id mod 100 (SIIM has no
    patient ids, so this is per image: one patient's images can straddle splits)."""
    bucket = zlib.crc32(image_id.encode()) % 100
    if bucket < test_percent:
        return "test"
    return "validation" if bucket < test_percent + validation_percent else "train"


def scale_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """A bool mask as uint8 `size` x `size`: MASK_ON where >= HALF of the area is inside."""
    if mask.shape == (size, size):
        return mask.astype(np.uint8) * MASK_ON
    covered = Image.fromarray(mask.astype(np.float32), mode="F").resize(
        (size, size), Image.Resampling.BOX
    )
    return (np.asarray(covered) >= HALF).astype(np.uint8) * MASK_ON


def png(pixels: np.ndarray) -> bytes:
    """A uint8 (S, S) array as PNG bytes."""
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def pixels(path, codes: tuple[str, ...], size: int) -> dict:
    """{"image", "mask"} PNG bytes, "original_height"/"original_width" and "mask_pixels"
    (pixels of the scaled mask) of one DICOM and its regions' codes.

    Raises:
        cxr_tfds.dicom.DicomError: an unreadable DICOM (the build skips and counts it).
        WrongSize: an image with regions whose DICOM is not 1024 x 1024 (skipped, counted).
    """
    gray = dicom.read_gray(path)
    if codes and gray.shape != (rle.SIDE, rle.SIDE):
        raise WrongSize(
            f"{path}: {gray.shape[0]}x{gray.shape[1]} pixels, not the {rle.SIDE}x{rle.SIDE} "
            "its run-length code is over"
        )
    mask = scale_mask(rle.decode_union(codes), size) if codes else np.zeros((size, size), np.uint8)
    return {
        "image": png(images.resize_gray(gray, size)),
        "mask": png(mask),
        "original_height": gray.shape[0],
        "original_width": gray.shape[1],
        "mask_pixels": int((mask > 0).sum()),
    }
