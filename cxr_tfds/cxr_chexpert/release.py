"""Where CheXpert's files are in a manual dir, and the one line when they are not.

The manual dir is the release as unpacked: `CheXpert-v1.0-small/train.csv` (or
`train.csv.gz`), `valid.csv` when the user has it, and the images at each row's `Path`.
The folder holding `train.csv` may be the manual dir itself or its `CheXpert-v1.0-small/`
(or full-size `CheXpert-v1.0/`) subfolder; an image is found under that folder by its
`Path` without the first part, so a renamed release folder works too.

Checked before TFDS creates any folder (`preflight`): a missing or empty folder, or one
holding another dataset's files, is one line naming it and the files this builder expects.
No TensorFlow here.
"""

import dataclasses

from etils import epath

from cxr_tfds.cxr_chexpert import metadata

URL = "https://stanfordmlgroup.github.io/competitions/chexpert/"
RELEASE_FOLDERS = ("CheXpert-v1.0-small", "CheXpert-v1.0")
TRAIN_CSV = ("train.csv", "train.csv.gz")
VALID_CSV = ("valid.csv", "valid.csv.gz")
EXPECTED_FILES = (
    "CheXpert-v1.0-small/train.csv (or train.csv.gz), optionally CheXpert-v1.0-small/valid.csv "
    "(the official 234-image validation set, used as `test`), and the images at each row's "
    "Path (CheXpert-v1.0-small/train/patientNNNNN/studyN/viewN_frontal.jpg)"
)
# Another dataset's telltale file -> its name, to say what the folder holds instead.
OTHER_DATASETS = {
    "Data_Entry_2017_v2020.csv": "NIH ChestX-ray14",
    "Data_Entry_2017.csv": "NIH ChestX-ray14",
    "train-rle.csv": "SIIM-ACR Pneumothorax",
    "train-rle.csv.gz": "SIIM-ACR Pneumothorax",
    "stage_2_train_labels.csv": "RSNA Pneumonia",
}


@dataclasses.dataclass(frozen=True)
class Release:
    """The folder holding CheXpert's CSVs, and the CSVs found there."""

    folder: epath.Path
    train_csv: epath.Path
    valid_csv: epath.Path | None

    def image_path(self, path: str) -> epath.Path:
        """The file of a CSV `Path` ("CheXpert-v1.0-small/train/..."): under `folder`,
        without the release folder's own name."""
        return self.folder.joinpath(*path.split("/")[1:])


def find(manual_dir: epath.PathLike) -> tuple[Release | None, str]:
    """(the release in `manual_dir`, "") or (None, why not: a clause naming the folder)."""
    root = epath.Path(manual_dir).expanduser()
    if not root.exists():
        return None, f"{root} does not exist"
    if not root.is_dir():
        return None, f"{root} is a file, not a folder"
    if not any(root.iterdir()):
        return None, f"{root} exists but is empty"
    for folder in (root, *(root / name for name in RELEASE_FOLDERS)):
        train = _first(folder, TRAIN_CSV)
        if train is not None and not metadata.missing_columns(metadata.header(train)):
            return Release(folder, train, _first(folder, VALID_CSV)), ""
    return None, _what_instead(root)


def _first(folder: epath.Path, names: tuple[str, ...]) -> epath.Path | None:
    return next((folder / n for n in names if (folder / n).is_file()), None)


def _what_instead(root: epath.Path) -> str:
    """Why `root` holds no CheXpert release: another dataset's files, or what is missing."""
    for name, dataset in OTHER_DATASETS.items():
        if (root / name).exists():
            return f"{root} holds {dataset}'s {name}, not CheXpert's files"
    for folder in (root, *(root / name for name in RELEASE_FOLDERS)):
        train = _first(folder, TRAIN_CSV)
        if train is not None:
            columns = metadata.header(train)
            found = ", ".join(columns[:4]) + (", ..." if len(columns) > 4 else "")
            return (
                f"{train} is not CheXpert's train.csv (its columns: {found or 'none'}; "
                "another dataset's, such as VinDr-CXR's image_id,class_name,...?)"
            )
    return f"{root} holds no CheXpert-v1.0-small/train.csv (nor train.csv.gz)"


def no_files(reason: str) -> str:
    """The one-line error for `find`'s reason: what is wrong, what is expected, where from."""
    return (
        f"cxr_chexpert: no CheXpert release to build from: {reason}; expected {EXPECTED_FILES}, "
        f"from {URL} (see cxr_tfds/cxr_chexpert/README.md)"
    )


def preflight(builder, manual_dir=None, *, overwrite=False, download_dir=None, **_) -> str | None:
    """The one-line error that stops building `builder` before TFDS creates any folder.

    None for a builder other than cxr_chexpert, one already built (unless `overwrite`),
    or a manual dir holding a release; else what is missing where (`no_files`).

    Args:
        builder: a TFDS builder.
        manual_dir: the folder the user named; None: TFDS's default manual dir.
        overwrite: the build will be redone, so only the files matter.
        download_dir: TFDS's download folder, when not `<data_dir>/downloads`.
    """
    if builder.name != "cxr_chexpert":
        return None
    built = (epath.Path(builder.data_dir) / "dataset_info.json").exists()
    if built and not overwrite:
        return None
    if manual_dir is None:
        manual_dir = epath.Path(download_dir or builder.data_dir_root / "downloads") / "manual"
    release, reason = find(manual_dir)
    return None if release else f"cxr_chexpert/{builder.builder_config.name}: {no_files(reason)}"
