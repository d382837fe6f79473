"""SIIM-ACR Pneumothorax's run-length codes: parse, check and decode (pure numpy).

    rle.decode("557374 2 1015 8")          # bool (1024, 1024), True inside the region
    rle.decode_union(["3 2", "10 4"])      # one image's regions joined

The competition's code (its `mask_functions.py`, and the
external_metadata README's check on the file) is a list of (start, length) pairs over
the 1024 x 1024 image flattened column by column. Each start is an offset counted
from the END of the previous run (from pixel 0 for the first run), not an absolute
index. Decoding fills the runs in that flat order, reshapes to (1024, 1024), then
transposes, since the flat order walks down each column first.

`-1` (`NO_MASK`) means "no pneumothorax". A code that is not integer pairs, has a
negative offset, a run of length 0 or a run past the last pixel is malformed:
`MalformedCode` says why; the reader names the row (cxr_tfds.cxr_siim.metadata).
"""

import numpy as np

SIDE = 1024  # the release's images are 1024 x 1024; every code is over that grid
NO_MASK = "-1"


class MalformedCode(ValueError):
    """A run-length code that cannot be decoded; the message says why."""


def parse(code: str, side: int = SIDE) -> np.ndarray:
    """The (absolute start, length) of each run of `code`, as an (n, 2) int64 array.

    Args:
        code: the `EncodedPixels` text of one region (surrounding spaces allowed).
        side: the grid's side: codes index `side * side` pixels.

    Raises:
        MalformedCode: for `-1`, text that is not integer pairs, a negative offset,
            a run of length < 1, or a run that ends past the last pixel.
    """
    tokens = code.split()
    if tokens == [NO_MASK]:
        raise MalformedCode("-1 is 'no pneumothorax', not a region")
    if not tokens or len(tokens) % 2:
        raise MalformedCode(f"{len(tokens)} numbers; a code is (offset, length) pairs")
    try:
        pairs = np.array([int(t) for t in tokens], dtype=np.int64).reshape(-1, 2)
    except ValueError:
        bad = next(t for t in tokens if not t.lstrip("-").isdigit())
        raise MalformedCode(f"{bad!r} is not an integer") from None
    offsets, lengths = pairs[:, 0], pairs[:, 1]
    if (offsets < 0).any():
        raise MalformedCode(f"negative offset {offsets[offsets < 0][0]}")
    if (lengths < 1).any():
        raise MalformedCode(f"run of length {lengths[lengths < 1][0]}")
    # Each start is the offset plus everything before it: earlier offsets and lengths.
    ends = np.cumsum(offsets + lengths)
    starts = ends - lengths
    if ends[-1] > side * side:
        raise MalformedCode(f"runs end at pixel {ends[-1]}, past the {side}x{side} image")
    return np.stack([starts, lengths], axis=1)


def decode(code: str, side: int = SIDE) -> np.ndarray:
    """One region's mask: bool (side, side), rows then columns as the image is stored.

    Raises:
        MalformedCode: see `parse`.
    """
    return decode_union([code], side)


def decode_union(codes, side: int = SIDE) -> np.ndarray:
    """The union of several regions' masks (one image's rows), bool (side, side).

    No code (an image without pneumothorax) is an all-False mask.

    Raises:
        MalformedCode: see `parse`.
    """
    flat = np.zeros(side * side, dtype=bool)
    for code in codes:
        for start, length in parse(code, side):  # tens to hundreds of runs: slices are fast
            flat[start : start + length] = True  # regions that overlap simply join
    return flat.reshape(side, side).T  # the flat order is column by column
