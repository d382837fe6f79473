"""Which files of a VinDr-CXR manual dir a build reads, and what a wrong folder lacks.

Kaggle's layout (the VinBigData competition): `train.csv` (or `train.csv.gz`) and
`train/<image_id>.dicom`. PhysioNet's release names the same CSV
`annotations/annotations_train.csv`; it is read too. The official test set (3,000 images,
a consensus of 5 readers) is `test/<image_id>.dicom` with its annotations,
`annotations_test.csv` (PhysioNet's `annotations/annotations_test.csv`); Kaggle's copy has
the test images without their annotations, so without both there is no `test` split.

`lacks` runs before TFDS writes anything, so a wrong `--manual_dir` is one line naming the
folder, what it lacks and what the builder expects. Pure: etils paths, no TensorFlow.
"""

from etils import epath

URL = "https://physionet.org/content/vindr-cxr/ (or Kaggle's vinbigdata-chest-xray-abnormalities-detection)"
TRAIN_CSVS = (
    "train.csv",
    "train.csv.gz",
    "annotations/annotations_train.csv",
    "annotations/annotations_train.csv.gz",
)
TEST_CSVS = (
    "annotations_test.csv",
    "annotations_test.csv.gz",
    "annotations/annotations_test.csv",
    "annotations/annotations_test.csv.gz",
)
TRAIN_IMAGES, TEST_IMAGES = "train", "test"
SUFFIX = ".dicom"
EXPECTED_FILES = (
    "train.csv (or train.csv.gz, or PhysioNet's annotations/annotations_train.csv) and "
    "train/<image_id>.dicom; optionally the official test set: test/<image_id>.dicom with "
    "annotations_test.csv (or annotations/annotations_test.csv)"
)


def first(root: epath.Path, names) -> epath.Path | None:
    """The first of `names` that is a file under `root`, or None."""
    return next((root / n for n in names if (root / n).is_file()), None)


def lacks(directory) -> str | None:
    """Why `directory` cannot be built from, as one clause naming it; None when it can."""
    if directory is None:
        return "no manual dir was given"
    path = epath.Path(directory).expanduser()
    if not path.exists():
        return f"{path} does not exist"
    if not path.is_dir():
        return f"{path} is a file, not a folder"
    if first(path, TRAIN_CSVS) is None:
        found = sorted(p.name for p in path.iterdir())[:5]
        holds = f"it holds {', '.join(found)}" if found else "it is empty"
        return f"{path} holds no train.csv ({holds})"
    if not (path / TRAIN_IMAGES).is_dir():
        return f"{path} holds train.csv but no {TRAIN_IMAGES}/ folder of <image_id>{SUFFIX}"
    return None


def no_files(reason: str) -> str:
    """The one-line error for `lacks`'s reason: what is expected and where to get it."""
    return f"no VinDr-CXR files to build from: {reason}; expected {EXPECTED_FILES} from {URL}"


def dicoms(folder: epath.Path) -> dict[str, epath.Path]:
    """image_id -> path of every `<image_id>.dicom` in `folder` ({} when it is not there)."""
    if not folder.is_dir():
        return {}
    return {p.name[: -len(SUFFIX)]: p for p in folder.iterdir() if p.name.endswith(SUFFIX)}


def preflight(builder, manual_dir=None, *, overwrite=False, download_dir=None) -> str | None:
    """The one-line error that stops building `builder` before TFDS creates any folder.

    None when the config is built (and not `overwrite`), or when the manual dir (or TFDS's
    default, `<data_dir>/downloads/manual`) holds VinDr-CXR's files; else what is missing.

    Args:
        builder: a `cxr_vindr` TFDS builder.
        manual_dir: the folder the user named; None for TFDS's default.
        overwrite: the build will be redone, so only the files matter.
        download_dir: TFDS's download folder, when not `<data_dir>/downloads`.
    """
    name = f"{builder.name}/{builder.builder_config.name}"
    built = (epath.Path(builder.data_dir) / "dataset_info.json").exists()
    if built and not overwrite:
        return None
    if manual_dir is None:
        manual_dir = epath.Path(download_dir or builder.data_dir_root / "downloads") / "manual"
    problem = lacks(manual_dir)
    return f"{name} is not built, and there are {no_files(problem)}" if problem else None
