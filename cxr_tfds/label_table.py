"""docs/data.md's dataset x finding tables, written from the registered labels modules.

    python -m cxr_tfds.label_table     # prints the Markdown that docs/data.md holds

Each labels module owns its `LABEL_NAMES` and `MAPPING_REASONS` (one reason per finding,
in `LABEL_NAMES` order; keyed by the release's own name or by ours); this only lays them
out, and tests/data/test_registry.py holds docs/data.md to it. Pure: no TensorFlow.
"""

from cxr_tfds import registry
from cxr_tfds.labels import LABELS

BEGIN = "<!-- label table: python -m cxr_tfds.label_table -->"
END = "<!-- end of label table -->"


def findings() -> list[str]:
    """Every registered dataset's findings: NIH's 14 in their order, then the others sorted."""
    others = {n for name in registry.names() for n in registry.get(name).label_names}
    return [*LABELS, *sorted(others - set(LABELS))]


def reasons(name: str) -> dict[str, str]:
    """finding -> why dataset `name` has it under that name (its module's MAPPING_REASONS).

    Raises:
        ValueError: when the module has no reason for each of its findings.
    """
    entry = registry.get(name)
    given = list(getattr(entry.labels, "MAPPING_REASONS", {}).values())
    if len(given) != len(entry.label_names):
        raise ValueError(f"{entry.labels_module}: MAPPING_REASONS needs one reason per label")
    return dict(zip(entry.label_names, given, strict=True))


def markdown() -> str:
    """The two tables: which dataset labels which finding, then each mapping's reason."""
    names = registry.names()
    lines = [BEGIN, "", "| finding | " + " | ".join(f"`{n}`" for n in names) + " |"]
    lines.append("|---" * (len(names) + 1) + "|")
    for finding in findings():
        cells = ["yes" if finding in registry.get(n).label_names else "" for n in names]
        lines.append(f"| {finding} | " + " | ".join(cells) + " |")
    lines += ["", "| dataset | finding | why this name |", "|---|---|---|"]
    for name in names:
        if name == "cxr14_subset":
            lines.append(f"| `{name}` | NIH's 14 | {reasons(name)[LABELS[0]]} |")
            continue
        lines += [f"| `{name}` | {f} | {why} |" for f, why in reasons(name).items()]
    return "\n".join([*lines, "", END])


if __name__ == "__main__":
    print(markdown())
