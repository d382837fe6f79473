"""Which NIH folder a build reads, what it lacks, and what a build recorded of it.

Checked before TFDS creates any folder, so a wrong `--manual_dir` is one line that names
the path, says whether it exists and which file is missing, and leaves nothing behind.
A build records its folder and image count (`record`, kept in the dataset's
`metadata.json`); a later build asked to read another folder, or the same folder holding
other images, is told the dataset is already built from X with N images (`reuse_problem`),
instead of silently reusing it.

No TensorFlow here: builders are passed in, not imported.
"""

import os

from etils import epath

from cxr_tfds.cxr14_subset import metadata, rsna, sources

NIH_URL = "https://nihcc.app.box.com/v/ChestXray-NIHCC"
EXPECTED_FILES = (
    "Data_Entry_2017_v2020.csv (or Data_Entry_2017.csv), train_val_list.txt, test_list.txt, "
    "optionally BBox_List_2017.csv, and images as images/*.png, images_0NN/images/*.png "
    "or images_0NN.tar.gz"
)
IMAGE_LAYOUTS = "images/*.png, images_0NN/images/*.png, *.png or images_0NN.tar.gz"
RECORD_KEY = "cxr14_source"  # the key of `record` in the built dataset's metadata


def lacks(directory: epath.PathLike, needs_images: bool = True) -> str | None:
    """Why `directory` cannot be built from, as a clause naming it; None when it can.

    Args:
        directory: a folder that should hold NIH's files.
        needs_images: False when the images come from elsewhere (a config's downloads).
    """
    path = epath.Path(directory).expanduser()
    if not path.exists():
        return f"{path} does not exist"
    if not path.is_dir():
        return f"{path} is a file, not a folder"
    if not any(path.iterdir()):
        return f"{path} exists but is empty"
    if metadata.find_data_entry(path) is None:
        first, second = metadata.DATA_ENTRY_FILES
        return f"{path} exists but holds no {first} (nor {second})"
    for name in (metadata.TRAIN_VAL_LIST, metadata.TEST_LIST):
        if not (path / name).exists():
            return f"{path} exists but lacks {name}"
    if needs_images and not (sources.find_pngs(path) or sources.find_archives(path)):
        return f"{path} holds NIH's lists but no image ({IMAGE_LAYOUTS})"
    return None


def choose(
    manual_dir: epath.PathLike | None,
    needs_images: bool = True,
    manual_dir_label: str = "the manual dir",
) -> tuple[epath.Path | None, str]:
    """The folder a build reads: `manual_dir`, else $CXR14_DIR, the first that can be read.

    Returns:
        (the folder, "") or, when neither can be built from, (None, why not: one clause
        per candidate, naming its path and what it lacks).
    """
    reasons = []
    for label, candidate in ((manual_dir_label, manual_dir), (f"${sources.ENV_VAR}", _env())):
        if candidate is None:
            reasons.append(f"{label} is not set")
            continue
        why = lacks(candidate, needs_images)
        if why is None:
            return epath.Path(candidate).expanduser(), ""
        reasons.append(f"{label} {why}")
    return None, "; ".join(reasons)


def no_files(reasons: str) -> str:
    """The one-line error for `choose`'s reasons: what is missing, what is expected, where
    to get it."""
    return (
        f"no NIH ChestX-ray14 files to build from: {reasons}; expected {EXPECTED_FILES} "
        f"from {NIH_URL} (see cxr_tfds/cxr14_subset/README.md)"
    )


def _env() -> epath.Path | None:
    return sources.env_dir()


def survey(directory: epath.PathLike) -> dict:
    """What a folder holds, cheaply (no archive is opened): its absolute path, the
    number of PNG files and the archives with their sizes in bytes."""
    path = epath.Path(os.path.realpath(epath.Path(directory).expanduser()))
    return {
        "manual_dir": os.fspath(path),
        "png_files": len(sources.find_pngs(path)),
        "archives": {a.name: a.stat().length for a in sources.find_archives(path)},
    }


def record(directory: epath.PathLike, images: int) -> dict:
    """What a build records of its folder: `survey` and the images it found there."""
    return survey(directory) | {"images": images}


def reuse_problem(recorded: dict | None, directory: epath.PathLike) -> str | None:
    """Why a build recorded as `recorded` is not a build of `directory` as it is now.

    Returns:
        None when they match, or when nothing was recorded (a build older than records);
        else a clause "already built from X with N images; ...".
    """
    if not recorded or "manual_dir" not in recorded:
        return None
    now = survey(directory)
    built = f"already built from {recorded['manual_dir']} with {recorded['images']} images"
    if now["manual_dir"] != recorded["manual_dir"]:
        return f"{built}, not from {now['manual_dir']}"
    if (now["png_files"], now["archives"]) != (recorded["png_files"], recorded["archives"]):
        return f"{built} ({_holdings(recorded)}); the folder now holds {_holdings(now)}"
    return None


def _holdings(survey_: dict) -> str:
    archives = survey_["archives"]
    plural = "" if len(archives) == 1 else "s"
    return f"{survey_['png_files']} PNG files and {len(archives)} archive{plural}"


def preflight(
    builder,
    manual_dir: epath.PathLike | None = None,
    *,
    overwrite: bool = False,
    reuse_from_env: bool = False,
    download_dir: epath.PathLike | None = None,
) -> str | None:
    """The one-line error that stops building `builder` before TFDS creates any folder.

    Not built (or `overwrite`): None when a folder to build from is found (and its RSNA
    files, if any, read cleanly), else what is missing where, or the RSNA file's bad row. Built: None, or "already built from X with N images; rebuild with ..."
    when `manual_dir` (or, if `reuse_from_env`, $CXR14_DIR) is another folder or holds
    other images than the build recorded.

    Args:
        builder: a `cxr14_subset` TFDS builder (any other builder: None).
        manual_dir: the folder the user named; None for TFDS's default, then $CXR14_DIR.
        overwrite: the build will be redone, so only the files matter.
        reuse_from_env: also compare a built dataset with $CXR14_DIR when no
            `manual_dir` is named (what `cxr data` does; reading a built dataset does not).
        download_dir: TFDS's download folder, when not `<data_dir>/downloads`.
    """
    config = getattr(builder, "builder_config", None)
    if builder.name != "cxr14_subset" or config is None or config.synthetic_patients:
        return None  # synthetic configs generate their files
    name = f"{builder.name}/{config.name}"
    if _is_built(builder) and not overwrite:
        target = manual_dir if manual_dir is not None else (_env() if reuse_from_env else None)
        if target is None:
            return None
        target = choose(target, needs_images=False)[0] or target  # what a rebuild would read
        problem = reuse_problem(recorded(builder), target)
        return (
            f"{name} is {problem}; rebuild with {rebuild_hint(builder, target)}"
            if problem
            else None
        )
    label = "the manual dir"
    if manual_dir is None:
        manual_dir = epath.Path(download_dir or builder.data_dir_root / "downloads") / "manual"
        label = "no --manual_dir was given, and TFDS's default manual dir"
    root, reasons = choose(manual_dir, not config.archives, label)
    if root is None:
        return f"{name} is not built, and there are {no_files(reasons)}"
    return rsna_problem(root, name)


def rsna_problem(root: epath.PathLike, name: str = "cxr14_subset") -> str | None:
    """Why the RSNA files in the NIH folder `root` stop a build (a bad row, a box outside
    the frame, a file missing: `rsna.read`'s message), or None (good, or no RSNA files)."""
    if rsna.find(root) is None:
        return None
    try:
        rsna.read(root)
    except ValueError as e:
        return f"{name} cannot be built from {root}: its RSNA labels are bad: {e}"
    return None


def _is_built(builder) -> bool:
    """`builder.is_prepared()`, without the warning TFDS logs for a folder not there."""
    return (epath.Path(builder.data_dir) / "dataset_info.json").exists() and builder.is_prepared()


def recorded(builder) -> dict | None:
    """What the built dataset of `builder` recorded of its folder (`record`), if anything."""
    found = builder.info.metadata  # a lazy dict: items() reads metadata.json, len() does not
    return None if found is None else dict(found.items()).get(RECORD_KEY)


def rebuild_hint(builder, directory: epath.PathLike) -> str:
    """The `cxr data` and `make data` command lines that rebuild `builder` from `directory`."""
    config = builder.builder_config.name
    directory = os.fspath(epath.Path(directory).expanduser())
    default = epath.Path(os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets").expanduser()
    data_dir = ""
    if os.path.realpath(builder.data_dir_root) != os.path.realpath(default):
        data_dir = f"--data_dir={builder.data_dir_root}"
    args = f"{data_dir} --overwrite".strip()
    quoted = f"'{args}'" if " " in args else args
    return (
        f"`cxr data cxr14_subset --config={config} --manual_dir={directory} {args}` "
        f"(or `make data CONFIG={config} CXR14_DIR={directory} ARGS={quoted}`)"
    )
