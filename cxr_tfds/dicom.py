"""Reads a DICOM X-ray into the gray array that `cxr_tfds.cxr14_subset.images.to_gray` gives.

The one owner of the DICOM pixel rules: `cxr.data.dicom` (cxr-predict) and the DICOM
builders of cxr_tfds (SIIM, VinDr) read through it; cxr_tfds imports nothing of cxr, so
the failures are `DicomError`, which `cxr.data.dicom` turns into a `UserError`.

    gray = read_gray(path)                      # float32 (H, W) in [0, 255]
    pixels = images.resize_gray(gray, size)     # then exactly as for PNG and JPEG

The stored values become display values as a DICOM viewer makes them (PS3.3 C.11):

1. Modality LUT: the Modality LUT Sequence, or Rescale Slope and Intercept.
2. VOI: the first VOI LUT of the VOI LUT Sequence, scaled from 0 to its largest
   entry (see `_apply_voi_lut`); else the first Window Center and Width, with the
   VOI LUT Function (LINEAR, LINEAR_EXACT or SIGMOID) mapping the window onto
   [0, 255] as C.11.2.1.2 and C.11.2.1.3 define; else, with neither, the image's
   own minimum and maximum map to 0 and 255. The image's own range, not the
   0..2^BitsStored - 1 that could be stored: 12 bits of data declared as
   BitsStored 16 would otherwise show nearly black.
3. MONOCHROME1 (low values bright) is inverted, so that bone is bright as in NIH's PNGs.

12- and 16-bit, signed and unsigned images are handled by pydicom (the bits above
BitsStored are masked, signed values sign-extended). Compressed transfer syntaxes
go through pydicom's pixel-data plugins, python-gdcm first (GDCM is BSD): JPEG
baseline, 8-bit JPEG Extended, JPEG lossless, JPEG-LS and JPEG 2000. pylibjpeg
with pylibjpeg-openjpeg (MIT) decodes HTJ2K, which GDCM does not. RLE and deflate
are built into pydicom. 12-bit JPEG Extended is the one syntax left: pydicom's GDCM
and Pillow plugins refuse it and only pylibjpeg-libjpeg decodes it, which is GPLv3
and so not a dependency of cxr; such a file is a `DicomError` that says so.

8-bit RGB and YBR images (secondary captures) become luminance as Pillow computes
it for PNGs. A multi-frame file is an error, not its first frame: cxr never reads part of
a file silently.

Everything a user must fix (not DICOM, no pixel data, several frames, a decoder
that is not installed, undecodable data) raises `DicomError` with one line naming
the file.
"""

import pathlib

import numpy as np
import pydicom
from PIL import Image
from pydicom import uid
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_modality_lut, get_decoder

# What to pip install for each compressed transfer syntax: the packages pyproject.toml
# declares, named for an environment that lacks them. JPEG 2000 Part 2 has no pydicom
# decoder at all.
_GDCM = "python-gdcm"
_OPENJPEG = "pylibjpeg pylibjpeg-openjpeg"
INSTALL = {
    **dict.fromkeys(uid.JPEGTransferSyntaxes + uid.JPEGLSTransferSyntaxes, _GDCM),
    **dict.fromkeys([uid.JPEG2000Lossless, uid.JPEG2000], _GDCM),
    **dict.fromkeys([uid.HTJ2KLossless, uid.HTJ2KLosslessRPCL, uid.HTJ2K], _OPENJPEG),
}
# 12-bit JPEG Extended: only pydicom's pylibjpeg plugin with pylibjpeg-libjpeg (GPLv3),
# which cxr does not install.
LIBJPEG = "pylibjpeg pylibjpeg-libjpeg"


class DicomError(Exception):
    """A DICOM file that cannot be read; its message is one line naming the file and what to do."""


def is_dicom(path: pathlib.Path) -> bool:
    """Whether the file starts as a DICOM Part 10 file: 128 bytes, then "DICM"."""
    with open(path, "rb") as f:
        return f.read(132)[128:] == b"DICM"


def read_gray(path) -> np.ndarray:
    """Reads one DICOM image as display gray levels (see the module docstring).

    Args:
        path: A DICOM Part 10 file of one frame.

    Returns:
        float32 (H, W) in [0, 255] (uint8 for 8-bit colour images), ready for
        `images.resize_gray`.

    Raises:
        DicomError: a one-line reason naming the file and what to do.
    """
    path = pathlib.Path(path)
    ds = _read_dataset(path)
    _check_decodable(ds, path)
    try:
        pixels = ds.pixel_array
    except Exception as e:  # decoders raise many types for data they cannot decode
        raise DicomError(
            f"{path}: cannot decode its {_syntax(ds).name} pixel data ({_why(e)})"
        ) from None
    kind = str(ds.get("PhotometricInterpretation", "")).strip()
    if kind not in ("MONOCHROME1", "MONOCHROME2"):
        return _colour_to_gray(pixels, ds, path)
    try:
        unit = _voi_unit(apply_modality_lut(pixels, ds), ds)
    except _MALFORMED as e:  # a LUT or rescale attribute that is empty or cut short
        raise DicomError(
            f"{path}: its modality or VOI LUT attributes are malformed ({_why(e)})"
        ) from None
    if kind == "MONOCHROME1":
        unit = 1.0 - unit
    return (unit * 255.0).astype(np.float32)


# What malformed attributes raise in the LUT and rescale arithmetic.
_MALFORMED = (ValueError, TypeError, IndexError, KeyError, AttributeError, NotImplementedError)


def _why(error: Exception) -> str:
    """An exception as one line: its type and its message's lines joined by "; ".

    pydicom puts each plugin's reason on a line of its own after "Unable to decode as
    exceptions were raised by all available plugins:"; the first line alone says nothing.
    """
    head, *rest = [line.strip() for line in str(error).splitlines() if line.strip()] or [""]
    return f"{type(error).__name__}: {' '.join([head, '; '.join(rest)]).strip()}"


def _read_dataset(path: pathlib.Path) -> pydicom.Dataset:
    try:
        return pydicom.dcmread(path)
    except InvalidDicomError:
        raise DicomError(
            f"{path}: not a DICOM file (no DICM header); pass a DICOM, PNG or JPEG image"
        ) from None
    except OSError as e:
        raise DicomError(f"{path}: cannot read ({e.strerror or e})") from None
    except Exception as e:  # a DICOM header that is cut short or corrupt
        raise DicomError(f"{path}: not a readable DICOM file ({_why(e)})") from None


def _syntax(ds) -> uid.UID:
    meta = getattr(ds, "file_meta", None)
    return uid.UID(meta.get("TransferSyntaxUID", uid.ExplicitVRLittleEndian) if meta else "")


def _check_decodable(ds, path: pathlib.Path) -> None:
    """Raises `DicomError` for what no decoder fixes, and for a decoder not installed."""
    if "PixelData" not in ds:
        raise DicomError(
            f"{path}: a DICOM file without pixel data (a report or other object with no "
            "image, or a file cut short); pass the X-ray's image file"
        )
    frames = int(ds.get("NumberOfFrames") or 1)
    if frames > 1:
        raise DicomError(
            f"{path}: has {frames} frames; cxr reads single-frame X-rays "
            "(save the frame you want as its own file)"
        )
    syntax = _syntax(ds)
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        raise DicomError(
            f"{path}: its transfer syntax {syntax.name or syntax} has no pydicom decoder; "
            "convert it to an uncompressed or JPEG/JPEG 2000/JPEG-LS DICOM"
        ) from None
    bits = ds.get("BitsStored")
    if (
        syntax == uid.JPEGExtended12Bit
        and bits is not None
        and int(bits) != 8  # what pydicom's GDCM and Pillow plugins refuse
        and "pylibjpeg" not in decoder.available_plugins
    ):
        raise DicomError(
            f"{path}: its pixel data is 12-bit JPEG Extended ({bits} bits stored), which only "
            "pylibjpeg-libjpeg decodes; it is GPLv3 and not installed by cxr: pip install "
            f"{LIBJPEG} if its licence suits you, or convert the file to uncompressed DICOM"
        )
    if not decoder.is_available:
        install = INSTALL.get(syntax, "a pydicom pixel-data plugin")
        raise DicomError(
            f"{path}: its pixel data is compressed as {syntax.name} and no decoder for it "
            f"is installed; pip install {install}"
        )


def _voi_unit(values: np.ndarray, ds) -> np.ndarray:
    """Maps modality values to [0, 1] with the VOI LUT, else the window, else min-max."""
    voi_lut = (ds.get("VOILUTSequence") or [None])[0]
    if voi_lut is not None and "LUTDescriptor" in voi_lut and "LUTData" in voi_lut:
        return _apply_voi_lut(values, voi_lut, little_endian=_syntax(ds).is_little_endian)
    window = _window(ds)
    if window is not None:
        return _apply_window(values.astype(np.float64), *window)
    low, high = float(values.min()), float(values.max())
    if high == low:  # a blank image: no contrast to stretch
        return np.zeros(values.shape)
    return (values - low) / (high - low)


def _apply_voi_lut(values: np.ndarray, item, *, little_endian: bool) -> np.ndarray:
    """PS3.3 C.11.2.1.1: values below the first mapped one take the first entry, values
    past the table the last; the output is scaled by the table's largest entry.

    Not `pydicom.pixels.apply_voi`: in pydicom 3.0.2 it indexes an 8-bit table through
    a uint8 array, so an index past 255 wraps around. The largest entry, not the
    2^n - 1 of the descriptor, is the top of the range, as Horos and Cornerstone do:
    some CR devices declare n = 16 for tables that end at 4095.
    """
    entries, first, bits = (int(v) for v in item.LUTDescriptor)
    data = item.LUTData
    if isinstance(data, bytes):  # OW: 16-bit words, or one byte per entry for n = 8
        packed = bits == 8 and len(data) == (entries or 2**16)
        dtype = np.uint8 if packed else np.dtype("<u2" if little_endian else ">u2")
        table = np.frombuffer(data, dtype=dtype)
    else:  # US: the entries as numbers
        table = np.atleast_1d(np.asarray(data))
    table = table[: entries or 2**16].astype(np.float64)
    index = np.clip(np.rint(values) - first, 0, len(table) - 1).astype(np.int64)
    top = table.max()
    return table[index] / top if top > 0 else np.zeros(values.shape)


def _window(ds) -> tuple[float, float, str] | None:
    """The first Window Center and Width with the VOI LUT Function; None if absent or invalid."""
    if "WindowCenter" not in ds or "WindowWidth" not in ds:
        return None
    try:  # VM may be 1-n: the first value is the default view
        center, width = (
            float(ds[key].value[0] if ds[key].VM > 1 else ds[key].value)
            for key in ("WindowCenter", "WindowWidth")
        )
    except (TypeError, ValueError):  # empty or not a number
        return None
    function = str(ds.get("VOILUTFunction", "LINEAR")).strip().upper() or "LINEAR"
    smallest = 1.0 if function == "LINEAR" else 0.0  # PS3.3 C.11.2.1.2: LINEAR needs >= 1
    if function not in ("LINEAR", "LINEAR_EXACT", "SIGMOID") or width < smallest or width == 0:
        return None  # a window a viewer could not apply: fall back to min-max
    return center, width, function


def _apply_window(x: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """PS3.3 C.11.2.1.2 (LINEAR) and C.11.2.1.3 (LINEAR_EXACT, SIGMOID), output [0, 1]."""
    if function == "SIGMOID":
        return 1.0 / (1.0 + np.exp(np.clip(-4.0 * (x - center) / width, -700, 700)))
    if function == "LINEAR_EXACT":
        return np.clip((x - center) / width + 0.5, 0.0, 1.0)
    if width == 1:  # LINEAR with width 1 is a threshold at center - 0.5
        return (x > center - 0.5).astype(np.float64)
    # The standard's three cases (below, inside, above the window) are this affine
    # map clipped to [ymin, ymax]; it is continuous at both edges.
    return np.clip((x - (center - 0.5)) / (width - 1) + 0.5, 0.0, 1.0)


def _colour_to_gray(pixels: np.ndarray, ds, path: pathlib.Path) -> np.ndarray:
    """An 8-bit RGB image (pydicom converts YBR to RGB) as luminance, as for PNGs."""
    if pixels.ndim == 3 and pixels.shape[-1] == 3 and pixels.dtype == np.uint8:
        return np.asarray(Image.fromarray(pixels).convert("L"))
    kind = ds.get("PhotometricInterpretation", "none")
    raise DicomError(
        f"{path}: photometric interpretation {kind} with {ds.get('BitsStored')} bits is "
        "not supported; pass a MONOCHROME1/2 or 8-bit RGB DICOM"
    )
