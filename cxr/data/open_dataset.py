"""Which dataset, built and checked: a registered builder with its label policy.

    builder = open_dataset.prepare("cxr_chexpert/64", manual_dir=..., policy={"blank": "unknown"})
    open_dataset.label_names(builder.info)      # its registry entry's LABEL_NAMES
    open_dataset.check_split(builder, "test")   # one line naming the built splits

`cxr.data.datasets` re-exports every name here; batches are made there.
"""

import tensorflow_datasets as tfds

import cxr_tfds.builders  # noqa: F401  (registers every cxr builder)
from cxr.data import label_space
from cxr.errors import UserError
from cxr_tfds import registry


def prepare(
    name: str = "cxr14_subset/synthetic",
    data_dir: str | None = None,
    manual_dir: str | None = None,
    policy: dict | None = None,
) -> tfds.core.DatasetBuilder:
    """Returns the builder of `name`, building the dataset first if needed.

    Args:
        name: `<builder>/<config>` of a registered builder (`cxr_tfds.registry`).
        data_dir: TFDS data dir; None for TFDS's default (`~/tensorflow_datasets`).
        manual_dir: folder with the release's files; None for TFDS's manual dir (for
            cxr14_subset then `$CXR14_DIR`). Not needed for `synthetic`.
        policy: the label policies (`with_policy`); None: each dataset's defaults.

    Raises:
        UserError: for an unknown dataset or config, one that is not built and has no
            files to build from, or a policy value its `targets` refuses.
    """
    return build(find(name, data_dir, policy), manual_dir)


def find(
    name: str, data_dir: str | None = None, policy: dict | None = None
) -> tfds.core.DatasetBuilder:
    """The builder of `name`, not built yet: its `info` (features, image size) is there.

    Raises:
        UserError: for an unknown dataset or config, or a policy value it refuses.
    """
    label_space.entry(name)  # registered with cxr, or one line naming those that are
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except (tfds.core.registered.DatasetNotFoundError, ValueError) as e:
        first = (str(e).strip().splitlines() or [""])[0]
        names = "|".join(registry.names())
        raise UserError(f"no dataset {name!r} ({first}); use <{names}>/<config>") from None
    return with_policy(builder, policy)


def with_policy(builder, policy: dict | None):
    """`builder`, its labels read under `policy` (uncertain, blank, readers: only those its
    `targets` takes count; None values: the dataset's defaults); checked here."""
    e = label_space.entry(builder)
    chosen = label_space.policy_for(e, policy)
    if e.label_feature != "labels":
        label_space.target_tables(e, chosen)  # a refused value: one line, now
    builder.cxr_label_policy = chosen
    return builder


def label_policy(builder) -> dict:
    """The policy `builder`'s labels are read under ({}: the dataset's defaults)."""
    return getattr(builder, "cxr_label_policy", {})


def build(builder: tfds.core.DatasetBuilder, manual_dir: str | None = None):
    """Builds `builder`'s dataset unless it is built; returns the builder.

    Raises:
        UserError: when it is not built and there are no files to build it from (said
            before TFDS creates any folder), or when `manual_dir` is not what it was
            built from.
    """
    problem = label_space.entry(builder).check_build(builder, manual_dir)
    if problem:
        raise UserError(problem)
    try:
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=manual_dir)
        )
    except FileNotFoundError as e:  # the builder names what is missing and where
        raise UserError(f"{dataset_name(builder)} is not built and cannot be: {e}") from None
    return builder


def dataset_name(builder: tfds.core.DatasetBuilder) -> str:
    """`cxr14_subset/<config>`, as configs and folder names spell it."""
    return f"{builder.name}/{builder.builder_config.name}"


def image_size(builder: tfds.core.DatasetBuilder) -> int:
    """The side of the dataset's square images, known before it is built."""
    return builder.info.features["image"].shape[0]


def label_names(info: tfds.core.DatasetInfo) -> tuple[str, ...]:
    """The label order of the label vectors: the dataset's registry entry's LABEL_NAMES."""
    return label_space.label_names(info)


def check_split(builder: tfds.core.DatasetBuilder, split: str) -> None:
    """Raises a `UserError` unless `split` is a readable split expression of the dataset."""
    try:
        builder.info.splits[split]
    except (KeyError, ValueError, AssertionError) as e:
        available = ", ".join(builder.info.splits) or "none"
        first = (str(e).strip().splitlines() or [""])[0]
        raise UserError(
            f"{dataset_name(builder)} has no split {split!r} ({first}); splits built: {available}"
        ) from None
