"""`tfds build`, runnable without apache-beam: `cxr data cxr14_subset ...`.

The `tfds` entry point of tensorflow-datasets 4.9.10 imports its `convert_format`
command, which needs apache-beam at import time, so `tfds build` fails without it.
This runs the same `build` command with the same flags (`--config`, `--manual_dir`,
`--data_dir`, `--imports`, ...), and imports cxr_tfds so `cxr14_subset` is known.
"""

import sys

from absl import app
from tensorflow_datasets.scripts.cli import build, cli_utils

import cxr_tfds.cxr14_subset.cxr14_subset_dataset_builder  # noqa: F401  (registers cxr14_subset)


def main(argv=None) -> None:
    """`tfds build` with `argv` (default: the command line); `cxr data` calls this."""
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    parse = cli_utils.make_flags_parser(build.Args, description="tfds build for cxr14_subset")
    app.run(lambda args: args.execute(), flags_parser=parse)


if __name__ == "__main__":
    main()
