"""Where NIH ChestX-ray14 files are on disk, in the layouts users really have.

Accepted image layouts, relative to the manual dir (any mix of them):
- `images/*.png`: NIH's archives unpacked (each `images_0NN.tar.gz` holds `images/`);
- `images_0NN/images/*.png` or `images_0NN/*.png`: Kaggle's copy;
- `*.png`: a flat folder;
- `images_0NN.tar.gz` (or `.tgz`): NIH's archives as downloaded, read in place by
  streaming, never unpacked to disk.
"""

import os
import tarfile
from collections.abc import Iterator

from etils import epath

PNG_PATTERNS = ("*.png", "images/*.png", "images_*/images/*.png", "images_*/*.png")
ARCHIVE_PATTERNS = ("*.tar.gz", "*.tgz")
ENV_VAR = "CXR14_DIR"

# NIH's archive links (https://nihcc.app.box.com/v/ChestXray-NIHCC, batch_download_zips.py).
NIH_ARCHIVE_URLS = {
    1: "https://nihcc.box.com/shared/static/vfk49d74nhbxq3nqjg0900w5nvkorp5c.gz",
    2: "https://nihcc.box.com/shared/static/i28rlmbvmfjbl8p2n3ril0pptcmcu9d1.gz",
    3: "https://nihcc.box.com/shared/static/f1t00wrtdk94satdfb9olcolqx20z2jp.gz",
    4: "https://nihcc.box.com/shared/static/0aowwzs5lhjrceb3qp67ahp0rd1l1etg.gz",
    5: "https://nihcc.box.com/shared/static/v5e3goj22zr6h8tzualxfsqlqaygfbsn.gz",
    6: "https://nihcc.box.com/shared/static/asi7ikud9jwnkrnkj99jnpfkjdes7l6l.gz",
    7: "https://nihcc.box.com/shared/static/jn1b4mw4n6lnh74ovmcjb8y48h8xj07n.gz",
    8: "https://nihcc.box.com/shared/static/tvpxmn7qyrgl0w8wfh9kqfjskv6nmm1j.gz",
    9: "https://nihcc.box.com/shared/static/upyy3ml7qdumlgk2rfcvlb9k6gvqq2pj.gz",
    10: "https://nihcc.box.com/shared/static/l6nilvfa9cg3s28tqv1qc1olm3gnz54p.gz",
    11: "https://nihcc.box.com/shared/static/hhq8fkdgvcari67vfhs7ppg2w6ni4jze.gz",
    12: "https://nihcc.box.com/shared/static/ioqwiy20ihqwyr8pf4c24eazhh281pbu.gz",
}


def env_dir() -> epath.Path | None:
    """The folder named by $CXR14_DIR, if set."""
    value = os.environ.get(ENV_VAR)
    return epath.Path(value).expanduser() if value else None


def find_pngs(directory: epath.PathLike) -> dict[str, epath.Path]:
    """Maps image name (`00000001_000.png`) to its file, first layout found wins."""
    found: dict[str, epath.Path] = {}
    for pattern in PNG_PATTERNS:
        for path in sorted(epath.Path(directory).glob(pattern)):
            found.setdefault(path.name, path)
    return found


def find_archives(directory: epath.PathLike) -> list[epath.Path]:
    """Lists the `.tar.gz` / `.tgz` archives directly in `directory`."""
    archives = []
    for pattern in ARCHIVE_PATTERNS:
        archives.extend(sorted(epath.Path(directory).glob(pattern)))
    return archives


def list_archive(path: epath.PathLike) -> list[str]:
    """Names of the PNGs in a tar.gz archive; streams it once, reading no image.

    Raises:
        ValueError: naming the archive when it is not a readable tar.gz.
    """
    return [name for name, _ in _members(path, wanted=None)]


def read_archive(path: epath.PathLike, wanted: set[str]) -> Iterator[tuple[str, bytes]]:
    """Yields (name, bytes) of the PNGs in `wanted`, in archive order, streaming."""
    yield from _members(path, wanted)


def _members(path, wanted):
    try:
        with epath.Path(path).open("rb") as f, tarfile.open(fileobj=f, mode="r|gz") as tar:
            for member in tar:
                name = os.path.basename(member.name)
                if not member.isfile() or not name.endswith(".png"):
                    continue
                if wanted is None:
                    yield name, None
                elif name in wanted:
                    yield name, tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, OSError) as e:
        raise ValueError(
            f"{path}: not a readable .tar.gz archive ({e}); download it again or remove it"
        ) from None
