"""Which folder a `cxr_siim` build reads, and where its DICOMs are.

The manual dir is the competition's download as unpacked: `train-rle.csv` (or
`train-rle.csv.gz`) and the DICOMs, `dicom-images-train/<study>/<series>/<ImageId>.dcm`
as Kaggle lays them out, or any folder of `<ImageId>.dcm` files below the manual dir
(a flat folder works). `lacks` is checked before TFDS writes anything, so a wrong
folder is one line that says what cxr_siim expects.
"""

import os

from etils import epath

from cxr_tfds.cxr_siim import metadata

EXPECTED_FILES = (
    "SIIM-ACR Pneumothorax's train-rle.csv (or train-rle.csv.gz) and its DICOMs, "
    "dicom-images-train/**/<ImageId>.dcm (the Kaggle layout) or <ImageId>.dcm files "
    "anywhere below the folder"
)
HOMEPAGE = "https://www.kaggle.com/c/siim-acr-pneumothorax-segmentation"


def lacks(directory: epath.PathLike | None) -> str | None:
    """Why `directory` cannot be built from, as one line naming it; None when it can."""
    if directory is None:
        return f"no manual dir given: cxr_siim expects {EXPECTED_FILES} ({HOMEPAGE})"
    path = epath.Path(directory).expanduser()
    if not path.is_dir():
        what = "is a file, not a folder" if path.exists() else "does not exist"
        return f"{path} {what}: cxr_siim expects a folder with {EXPECTED_FILES}"
    if metadata.find_csv(path) is None:
        found = sorted(p.name for p in path.iterdir())[:4]
        holds = f"it holds {', '.join(found)}" if found else "it is empty"
        return f"{path} holds no train-rle.csv ({holds}); cxr_siim expects {EXPECTED_FILES}"
    if not find_dicoms(path):
        return f"{path} holds train-rle.csv but no .dcm file; cxr_siim expects {EXPECTED_FILES}"
    return None


def find_dicoms(root: epath.PathLike) -> dict[str, epath.Path]:
    """Every `*.dcm` below `root`, by file name without `.dcm` (the SIIM ImageId)."""
    found = {}
    for folder, _, names in os.walk(os.fspath(root)):
        for name in names:
            if name.endswith(".dcm"):
                found[name[: -len(".dcm")]] = epath.Path(folder) / name
    return found


def preflight(builder, manual_dir=None, *, overwrite=False, download_dir=None) -> str | None:
    """The one-line error that stops building `builder` before TFDS creates any folder.

    None when the config is built (and not `overwrite`), or when the manual dir (or TFDS's
    default, `<data_dir>/downloads/manual`) holds SIIM's files; else `lacks`'s line.
    (The same signature as cxr14_subset's and cxr_vindr's `source_dir.preflight`.)

    Args:
        builder: a `cxr_siim` TFDS builder.
        manual_dir: the folder the user named; None for TFDS's default.
        overwrite: the build will be redone, so only the files matter.
        download_dir: TFDS's download folder, when not `<data_dir>/downloads`.
    """
    built = (epath.Path(builder.data_dir) / "dataset_info.json").exists()
    if built and not overwrite:
        return None
    if manual_dir is None:
        manual_dir = epath.Path(download_dir or builder.data_dir_root / "downloads") / "manual"
    problem = lacks(manual_dir)
    name = f"{builder.name}/{builder.builder_config.name}"
    return f"{name} is not built: {problem}" if problem else None
