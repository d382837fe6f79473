"""The expert labels as `cxr14_subset` features: their spec, one image's values, the build log.

The labels themselves are read by `expert_labels` (pure Python); this module is the TFDS side.
"""

import numpy as np
import tensorflow_datasets as tfds
from absl import logging

from cxr_tfds.cxr14_subset import expert_labels


def features() -> dict:
    """{set name: its FeaturesDict}, one per set of `expert_labels.SETS`."""
    return {name: _features(spec) for name, spec in expert_labels.SETS.items()}


def example(experts: dict, image_id: str) -> dict:
    """One image's values of every set: `present` False and zeros where a set is absent."""
    return {
        name: expert_labels.feature(experts[name], image_id)
        if name in experts
        else expert_labels.empty_feature(spec)
        for name, spec in expert_labels.SETS.items()
    }


def _features(spec: expert_labels.ExpertSet) -> tfds.features.FeaturesDict:
    """One expert set's feature: `present`, `labels` (uint8, in `spec.findings` order), its
    extra yes/no columns, and `readers` (each reader's int8 calls; -1 is HEDGE)."""
    extra = [expert_labels.feature_key(name) for name in spec.extra]
    size = (len(spec.findings),)
    return tfds.features.FeaturesDict(
        {
            "present": np.bool_,
            "labels": tfds.features.Tensor(shape=size, dtype=np.uint8),
            **dict.fromkeys(extra, np.uint8),
            "readers": tfds.features.Sequence(
                {
                    "reader_id": tfds.features.Text(),
                    "labels": tfds.features.Tensor(shape=size, dtype=np.int8),
                    **dict.fromkeys(extra, np.int8),
                }
            ),
        }
    )


def log_counts(experts, planned, root) -> None:
    """Says how many images of each split got each expert set, and which sets are absent."""
    for name, spec in expert_labels.SETS.items():
        found = experts.get(name)
        if found is None:
            logging.info("cxr14_subset: no %s/ in %s: %s absent", spec.folder, root, name)
            continue
        counts = {split: sum(n in found.truth for n in names) for split, names in planned.items()}
        built = sum(counts.values())
        logging.info(
            "cxr14_subset: %s: %d of the %d labelled images are in this build (%s), with "
            "%d individual reader calls",
            name,
            built,
            len(found.truth),
            ", ".join(f"{split}: {n}" for split, n in counts.items()),
            sum(len(found.readers.get(n, [])) for names in planned.values() for n in names),
        )
