"""SIIM-ACR Pneumothorax's `train-rle.csv`: one row per region, read into one entry per image.

The header is `ImageId, EncodedPixels`: the second name starts with a space, so
names are compared stripped. An image with pneumothorax has one row per separate
region (up to 10 in the release), which together make its mask; an image without
has one row `-1` (an image listed twice with `-1` is still one image).

Every code is checked here, before the build writes anything: a malformed code, or
an image listed both with `-1` and with a region, stops the build with one line
naming the file, the line and the image. (Stopping, not skipping: a row the
competition's file does not have means the file was edited or cut, and a silently
smaller mask would bias every score against it.)
"""

import collections
import csv
import dataclasses
import gzip
import io

from etils import epath

from cxr_tfds.cxr_siim import rle

CSV_NAMES = ("train-rle.csv", "train-rle.csv.gz")
IMAGE_COLUMN, CODE_COLUMN = "ImageId", "EncodedPixels"


class BadMetadata(ValueError):
    """A `train-rle.csv` the builder cannot use; the message names the file and row."""


@dataclasses.dataclass(frozen=True)
class SiimImage:
    """One image's rows: its regions' codes (none: no pneumothorax) and their lines."""

    image_id: str
    codes: tuple[str, ...]
    lines: tuple[int, ...]  # line numbers in the CSV, the header being line 1

    @property
    def raw_label(self) -> int:
        """1 where the image has a pneumothorax region, 0 where its row is -1."""
        return int(bool(self.codes))


@dataclasses.dataclass(frozen=True)
class Metadata:
    """The whole CSV: images by id, and what was merged on the way."""

    images: dict[str, SiimImage]
    rows: int
    repeated_negatives: int  # extra `-1` rows of images already listed with -1


def find_csv(root: epath.PathLike) -> epath.Path | None:
    """`train-rle.csv` in `root` (or its .gz), the plain one first; None if neither."""
    for name in CSV_NAMES:
        path = epath.Path(root) / name
        if path.exists():
            return path
    return None


def read(path: epath.PathLike) -> Metadata:
    """Reads and checks a `train-rle.csv` (or .gz).

    Raises:
        BadMetadata: a header without ImageId and EncodedPixels, a malformed code or an
            image listed both with -1 and with a region; the message names the line.
    """
    path = epath.Path(path)
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig")))
    header = [name.strip() for name in next(reader, [])]
    if IMAGE_COLUMN not in header or CODE_COLUMN not in header:
        raise BadMetadata(
            f"{path}: header {','.join(header)!r} lacks {IMAGE_COLUMN} and {CODE_COLUMN}; "
            "cxr_siim reads SIIM-ACR Pneumothorax's train-rle.csv as the competition ships it"
        )
    image_at, code_at = header.index(IMAGE_COLUMN), header.index(CODE_COLUMN)
    codes, lines, negatives = collections.defaultdict(list), collections.defaultdict(list), {}
    rows = repeated = 0
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue  # a blank line, as editors leave at the end
        rows += 1
        image_id, code = (row[i].strip() if i < len(row) else "" for i in (image_at, code_at))
        where = f"{path} line {line} (ImageId {image_id or '?'})"
        if not image_id:
            raise BadMetadata(f"{where}: no ImageId; {_STOPPED}")
        if code == rle.NO_MASK:
            repeated += image_id in negatives
            negatives.setdefault(image_id, line)
        else:
            _check(code, where)
            codes[image_id].append(code)
        lines[image_id].append(line)
        if image_id in negatives and codes[image_id]:
            raise BadMetadata(
                f"{where}: listed with -1 (line {negatives[image_id]}) and with a region; "
                f"{_STOPPED}"
            )
    images = {
        image_id: SiimImage(image_id, tuple(codes.get(image_id, ())), tuple(at))
        for image_id, at in lines.items()
    }
    return Metadata(images=images, rows=rows, repeated_negatives=repeated)


_STOPPED = "the build stops before writing anything: fix or remove the row"


def _check(code: str, where: str) -> None:
    """Raises `BadMetadata` naming the row if `code` does not decode."""
    try:
        rle.parse(code)
    except rle.MalformedCode as e:
        raise BadMetadata(f"{where}: malformed run-length code ({e}); {_STOPPED}") from None
