"""`tfds build`, runnable without apache-beam: `cxr data <builder> ...` for every registered
builder (`cxr_tfds.registry`: cxr14_subset, cxr_chexpert, cxr_vindr, cxr_siim).

The `tfds` entry point of tensorflow-datasets 4.9.10 imports its `convert_format`
command, which needs apache-beam at import time, so `tfds build` fails without it.
This runs the same `build` command with the same flags (`--config`, `--manual_dir`,
`--data_dir`, `--imports`, ...), and imports cxr_tfds so every cxr builder is known.

That command lives in TFDS's private `tensorflow_datasets.scripts.cli`, which changes
without notice, so it is used only on the TFDS release it was tested with
(`TESTED_TFDS`); any other is refused in one line, before anything is built.

Before TFDS runs, each config of a registered builder is checked by the builder's own
`preflight` (its registry entry): a manual dir without the release's files (for
cxr14_subset also a built config that another folder, or other images, was asked for) is
one line and exit code 2, with no folder created. `--overwrite` rebuilds.
"""

import dataclasses
import sys

import tensorflow_datasets as tfds

import cxr_tfds.builders  # noqa: F401  (registers every cxr builder with TFDS)
from cxr_tfds import registry

# The TFDS release (major.minor) whose `scripts.cli` this was tested with.
TESTED_TFDS = "4.9"
EXIT_CODE = 2  # cxr's code for input the user must fix (cxr.errors.EXIT_CODE)
DEFAULT_DATASET = "cxr14_subset"


def check_tfds(version=None) -> str | None:
    """The one-line error for a TFDS release other than `TESTED_TFDS`, else None.

    Args:
        version: a tensorflow-datasets version such as "4.9.10"; None: the installed one.
    """
    version = version or tfds.__version__
    if ".".join(version.split(".")[:2]) == TESTED_TFDS:
        return None
    return (
        f"tensorflow-datasets {version}: `cxr data` runs TFDS's private build command, tested "
        f"with tensorflow-datasets {TESTED_TFDS} only (cxr_tfds/tfds_build.py); install it with "
        f"`pip install 'tensorflow-datasets=={TESTED_TFDS}.*'`, or build with "
        "tfds.builder(...).download_and_prepare()"
    )


def main(argv=None, before_build=None) -> None:
    """`tfds build` with `argv` (default: the command line); `cxr data` calls this.

    Without a dataset name it builds `DEFAULT_DATASET` (`tfds build` would look for a
    dataset script in the current folder). `before_build`, if given, is called with the
    parsed `Args` once `--help` and flag errors were answered: `cxr data` checks paths and
    starts TensorFlow quietly there.
    """
    error = check_tfds()
    if error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(EXIT_CODE)
    from absl import app
    from tensorflow_datasets.scripts.cli import build, cli_utils

    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    parse = cli_utils.make_flags_parser(build.Args, description="tfds build for cxr14_subset")

    def parse_then_check(argv):
        args = with_default_dataset(parse(argv))
        if before_build is not None:
            before_build(args)
        return args

    app.run(_checked_execute, flags_parser=parse_then_check)


def with_default_dataset(args):
    """TFDS's build `Args`, naming `DEFAULT_DATASET` when they name no dataset."""
    if args.positional_datasets or args.datasets or args.automation.exclude_datasets:
        return args
    return dataclasses.replace(args, positional_datasets=[DEFAULT_DATASET])


def _checked_execute(args) -> None:
    """Runs TFDS's build with `args` unless `problems` finds one; then one line, exit 2."""
    for problem in problems(args):
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(EXIT_CODE)
    args.execute()


def problems(args):
    """Yields the one-line error of each config of a registered builder that `args` asks
    for and that does not exist, cannot be built, or should not be reused (the builder's
    registered `preflight`, e.g. `cxr14_subset`'s `source_dir.preflight`)."""
    for name, config in _registered_configs(args):
        known = [c.name for c in tfds.builder_cls(name).BUILDER_CONFIGS]
        if config not in known:
            yield f"{name} has no config {config!r}; configs: {', '.join(known)}"
            continue
        builder = tfds.builder(f"{name}/{config}", data_dir=args.paths.data_dir)
        problem = registry.get(name).check_build(
            builder,
            args.paths.manual_dir,
            overwrite=args.debug.overwrite,
            reuse_from_env=True,
            download_dir=args.paths.download_dir,
        )
        if problem:
            yield problem


def _registered_configs(args):
    """(builder, config) of each registered builder TFDS's build would make of `args`: every
    config of a builder named without one."""
    for dataset in [*args.positional_datasets, *args.datasets]:
        name, _, config = dataset.partition("/")
        name = name.partition(":")[0]
        if name not in registry.names():
            continue  # not ours: TFDS says what is wrong with it
        config = args.generation.config or config
        configs = [config] if config else [c.name for c in tfds.builder_cls(name).BUILDER_CONFIGS]
        yield from ((name, c) for c in configs)


if __name__ == "__main__":
    main()
