"""The cxr datasets, registered in one place: what each builder's examples hold.

    from cxr_tfds import registry
    entry = registry.get("cxr_chexpert")        # KeyError naming the registered ones
    labels, known = entry.targets(raw, uncertain="u_ones")
    registry.names()                             # every registered builder

One `Entry` per TFDS builder says which feature holds the labels (`labels`: multi-hot,
all known; or `raw_labels`: the dataset's raw code per finding in [-2, 3]), the pure module
owning its label names and `targets` (`cxr_tfds.<package>.labels`), which features hold
patients, per-image attributes, boxes and masks, and the policy keywords its `targets`
takes. `cxr.data` reads these and nothing cxr14-specific, so a new dataset is its own
package plus one `register(...)` line here and one import line in `cxr_tfds/builders.py`.

Pure Python: importing it starts neither TensorFlow nor TFDS.
"""

import dataclasses
import importlib
import inspect

# What `targets(raw, ...)` is evaluated on to build a dataset's lookup table: every raw
# code a builder may store (`raw_labels`, int8).
RAW_CODES = (-2, -1, 0, 1, 2, 3)


@dataclasses.dataclass(frozen=True)
class Entry:
    """One registered builder.

    Attributes:
        name: the TFDS builder name, e.g. "cxr_chexpert".
        labels_module: the pure module with `LABEL_NAMES` and `targets`.
        label_feature: "labels" (multi-hot uint8, all known) or "raw_labels" (int8 codes).
        patients: the feature holding patient ids.
        patients_are_images: True where the dataset has no patient ids and `patients` holds
            the image id (a split by it can put one patient on both sides).
        attributes: the per-image attribute features it has, of "sex", "age", "view".
        boxes: the feature holding boxes (a Sequence of bbox/label), or None.
        masks: the feature holding pixel masks, or None.
        policies: the keywords its `targets` takes (e.g. ("uncertain", "blank")).
        preflight: "module:function" of its check before a build, called as
            `function(builder, manual_dir, overwrite=, download_dir=)` (and
            `reuse_from_env=` where it takes it): the one-line error that stops a build
            before TFDS creates any folder, or None; None: no check.
    """

    name: str
    labels_module: str
    label_feature: str = "raw_labels"
    patients: str = "patient_id"
    patients_are_images: bool = False
    attributes: tuple = ()
    boxes: str | None = None
    masks: str | None = None
    policies: tuple = ()
    preflight: str | None = None

    @property
    def labels(self):
        """The labels module itself (imported on first use)."""
        return importlib.import_module(self.labels_module)

    @property
    def label_names(self) -> tuple:
        return tuple(self.labels.LABEL_NAMES)

    def targets(self, raw, **policy):
        """`targets(raw, **policy) -> (labels uint8, known uint8)` of the labels module.

        Raises:
            ValueError: for a policy keyword this dataset's `targets` does not take.
        """
        unknown = sorted(set(policy) - set(self.policies))
        if unknown:
            takes = ", ".join(self.policies) or "none"
            raise ValueError(f"{self.name} takes no policy {unknown} (its policies: {takes})")
        return self.labels.targets(raw, **policy)

    def check_build(self, builder, manual_dir=None, **options) -> str | None:
        """The one-line error of `preflight` for building `builder`, or None.

        `options` (overwrite, download_dir, reuse_from_env) are passed where the check
        takes them.
        """
        if self.preflight is None:
            return None
        module, _, function = self.preflight.partition(":")
        check = getattr(importlib.import_module(module), function)
        takes = inspect.signature(check).parameters
        any_keyword = any(p.kind is p.VAR_KEYWORD for p in takes.values())
        options = {k: v for k, v in options.items() if k in takes or any_keyword}
        return check(builder, manual_dir, **options)


_ENTRIES: dict[str, Entry] = {}


def register(name: str, labels_module: str, **fields) -> Entry:
    """Registers builder `name`; `fields` are `Entry`'s other attributes.

    Raises:
        ValueError: when `name` is registered already, or a field is not an `Entry` field.
    """
    if name in _ENTRIES:
        raise ValueError(f"dataset {name!r} is registered twice (cxr_tfds/registry.py)")
    allowed = {f.name for f in dataclasses.fields(Entry)} - {"name", "labels_module"}
    wrong = sorted(set(fields) - allowed)
    if wrong:
        raise ValueError(f"register({name!r}): no field {wrong}; fields: {sorted(allowed)}")
    _ENTRIES[name] = Entry(name=name, labels_module=labels_module, **fields)
    return _ENTRIES[name]


def get(name: str) -> Entry:
    """The entry of builder `name` ("cxr14_subset"; a "builder/config" name works too).

    Raises:
        KeyError: for a builder that is not registered, naming the registered ones.
    """
    builder = name.split("/")[0]
    if builder not in _ENTRIES:
        raise KeyError(f"no registered dataset {builder!r}; registered: {', '.join(names())}")
    return _ENTRIES[builder]


def names() -> tuple[str, ...]:
    """Every registered builder, in registration order."""
    return tuple(_ENTRIES)


# --- the registered builders (one line each) -------------------------------------------
register(
    "cxr14_subset",
    "cxr_tfds.cxr14_subset.labels",
    label_feature="labels",
    attributes=("sex", "age", "view"),
    boxes="bboxes",
    preflight="cxr_tfds.cxr14_subset.source_dir:preflight",
)
register(
    "cxr_vindr",
    "cxr_tfds.cxr_vindr.labels",
    patients_are_images=True,
    boxes="boxes",
    policies=("readers",),
    preflight="cxr_tfds.cxr_vindr.source_dir:preflight",
)
register(
    "cxr_chexpert",
    "cxr_tfds.cxr_chexpert.labels",
    attributes=("sex", "age", "view"),
    policies=("uncertain", "blank"),
    preflight="cxr_tfds.cxr_chexpert.release:preflight",
)
register(
    "cxr_siim",
    "cxr_tfds.cxr_siim.labels",
    patients_are_images=True,
    masks="mask",
    preflight="cxr_tfds.cxr_siim.source_dir:preflight",
)
