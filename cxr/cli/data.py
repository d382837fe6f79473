"""`cxr data [<builder>] --config=224 --manual_dir=DIR ...`: TFDS's build command
(`cxr_tfds.tfds_build`), its flags and `--manual_dir` checked before TensorFlow starts."""

import pathlib

from cxr.cli import data_help
from cxr.errors import UserError, exits_cleanly
from cxr.runtime import startup


def check_then_start(args) -> None:
    """Checks the parsed build `Args`' `--manual_dir`, then starts the frameworks quietly.

    Raises:
        UserError: when `--manual_dir` names no folder, naming it.
    """
    manual = args.paths.manual_dir
    if manual is not None and not pathlib.Path(str(manual)).expanduser().is_dir():
        raise UserError(
            f"--manual_dir {manual}: no such folder; pass the folder holding the release's "
            "files (cxr14_subset: NIH's Data_Entry_2017.csv and images_*.tar.gz; the others: "
            "docs/data.md)"
        )
    startup.start()


@exits_cleanly
def main(argv=None) -> None:
    """`cxr data ...`: builds the registered dataset `argv` names, cxr14_subset by default."""
    data_help.answer(argv)  # --help and unknown flags before TFDS loads (cxr.cli.data_help)
    from cxr_tfds import tfds_build  # TFDS itself (no TensorFlow yet): about a second

    tfds_build.main(argv, before_build=check_then_start)
