"""One label space for every registered dataset: labels, which of them are known, attributes.

    entry = label_space.entry(builder)                       # cxr_tfds.registry entry
    names = label_space.label_names(builder.info)            # its LABEL_NAMES
    to_targets = label_space.targets_fn(builder, policy)     # example -> float32 targets

A label of an image is positive (1), negative (0) or unknown. Batches carry all three in
one float32 tensor, `UNKNOWN` (-1) marking the unknown entries, so every consumer of
`(images, labels)` (Keras `fit`, the feature cache, sharding) carries the mask unchanged;
the loss (`cxr.model.losses`) and every AUROC skip the negative entries, and
`split_known` takes a tensor apart into (labels, known) again.

A dataset that stores raw codes (`raw_labels`, int8 in [-2, 3]) is turned into targets by
a lookup table: its `targets(codes, **policy)` evaluated once on every code
(`cxr_tfds.registry.RAW_CODES`) for every label, then gathered per example inside
tf.data. Per-image attributes (sex, age, view) are read as text / float whatever the
feature type (`attribute_values`).
"""

import numpy as np
import tensorflow as tf

from cxr.errors import UserError
from cxr_tfds import registry

UNKNOWN = -1.0  # the value of an unknown label in a batch's label tensor
POLICIES = ("uncertain", "blank", "readers")  # the config's policy fields (data.<name>)


def entry(builder_or_name) -> registry.Entry:
    """The registry entry of a builder (or of "builder[/config]").

    Raises:
        UserError: for a dataset that is not registered, naming the registered ones.
    """
    name = builder_or_name if isinstance(builder_or_name, str) else builder_or_name.name
    try:
        return registry.get(name)
    except KeyError as e:
        raise UserError(e.args[0] + " (cxr_tfds/registry.py)") from None


def label_names(info) -> tuple[str, ...]:
    """The label order of a dataset's label vectors, from its registry entry."""
    return entry(info.name).label_names


def policy_for(entry_: registry.Entry, policy: dict | None) -> dict:
    """The policy keywords of `policy` that this dataset's `targets` takes, unset ones left out.

    A policy a dataset does not take (e.g. `readers` for CheXpert) is not an error: one
    config may train on one dataset and be evaluated on another.
    """
    return {k: v for k, v in (policy or {}).items() if k in entry_.policies and v is not None}


def target_tables(entry_: registry.Entry, policy: dict | None = None):
    """(labels, known) lookup tables `[len(RAW_CODES), K]` uint8 of a raw-code dataset.

    Row r holds what `targets` makes of code `RAW_CODES[r]` in each of the K labels.

    Raises:
        UserError: for a policy value the dataset's `targets` refuses.
    """
    codes = np.array(registry.RAW_CODES, np.int8)
    raw = np.repeat(codes[:, None], len(entry_.label_names), axis=1)
    try:
        labels, known = entry_.targets(raw, **policy_for(entry_, policy))
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(f"{entry_.name}: {e} (set --config.data.<policy>)") from None
    return np.asarray(labels, np.uint8), np.asarray(known, np.uint8)


def targets_fn(builder, policy: dict | None = None):
    """example -> float32 `[K]` targets: 1, 0, or `UNKNOWN`, by the dataset's own rule."""
    e = entry(builder)
    if e.label_feature == "labels":  # multi-hot, every label known
        return lambda ex: tf.cast(ex["labels"], tf.float32)
    labels, known = target_tables(e, policy)
    width = labels.shape[1]
    values = np.where(known == 1, labels.astype(np.float32), UNKNOWN).reshape(-1)
    table = tf.constant(values, tf.float32)
    first = registry.RAW_CODES[0]

    def to_targets(ex):
        rows = tf.cast(ex[e.label_feature], tf.int32) - first
        return tf.gather(table, rows * width + tf.range(width))

    return to_targets


def split_known(targets: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(labels float32 with unknowns as 0, known uint8 or None when every entry is known)."""
    targets = np.asarray(targets, np.float32)
    known = targets != UNKNOWN
    if known.all():
        return targets, None
    return np.where(known, targets, 0).astype(np.float32), known.astype(np.uint8)


def attribute_features(builder) -> dict:
    """attribute name -> the example's tensors it is read from (a name, or two for age)."""
    e, features = entry(builder), builder.info.features
    out = {name: [name] for name in e.attributes if name in features}
    if "age" in out and "age_implausible" in features:
        out["age"].append("age_implausible")
    return out


def attribute_values(info, name: str, raw, implausible=None) -> np.ndarray:
    """A batch's attribute `name` as `Predictions.attributes` holds it.

    "sex" and "view": str, "" unknown (a ClassLabel's int mapped to its name, text
    decoded); "age": float, nan where unknown (-1) or implausible (cxr14's ages > 100).
    """
    raw = np.asarray(raw)
    if name == "age":
        age = raw.astype(np.float64)
        age[age < 0] = np.nan
        if implausible is not None:
            age[np.asarray(implausible, bool)] = np.nan
        return age
    feature = info.features[name]
    if hasattr(feature, "names"):  # a ClassLabel: ints; -1 would be unknown
        names = np.array([*feature.names, ""], dtype=str)
        return names[np.where(raw >= 0, raw, len(names) - 1).astype(np.int64)]
    return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in raw], dtype=str)
