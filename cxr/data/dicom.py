"""Reads a DICOM X-ray into display gray levels, for cxr-predict: `cxr_tfds.dicom`'s rules.

    gray = read_gray(path)                      # float32 (H, W) in [0, 255]
    pixels = images.resize_gray(gray, size)     # then exactly as for PNG and JPEG

The pixel rules (modality LUT, VOI LUT or window, MONOCHROME1, bit depths, compressed
transfer syntaxes and the decoders each needs) live in `cxr_tfds.dicom`, their one owner,
so that the DICOM dataset builders (which import nothing of cxr) read files exactly as
cxr-predict does. Here a file that cannot be read is a `UserError`: one line naming
the file and what to do.
"""

import numpy as np

from cxr.errors import UserError
from cxr_tfds import dicom as _rules
from cxr_tfds.dicom import INSTALL, LIBJPEG, is_dicom

__all__ = ["INSTALL", "LIBJPEG", "is_dicom", "read_gray"]


def read_gray(path) -> np.ndarray:
    """Reads one DICOM image as display gray levels (`cxr_tfds.dicom.read_gray`).

    Args:
        path: A DICOM Part 10 file of one frame.

    Returns:
        float32 (H, W) in [0, 255] (uint8 for 8-bit colour images).

    Raises:
        UserError: a one-line reason naming the file and what to do.
    """
    try:
        return _rules.read_gray(path)
    except _rules.DicomError as e:
        raise UserError(str(e)) from None
