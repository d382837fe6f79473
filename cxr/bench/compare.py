"""`cxr bench --compare OLD.json NEW.json`: every row of two results files side by side,
so that a change that slows a stage is seen in review (pure: no framework).

Rows are matched by name. For each, the figure's median in both files and NEW/OLD, then
the row's own ratio in both and NEW/OLD. Which way is better depends on the unit: more
images/s is faster, fewer seconds (`unit` "s") is faster, so each matched row also says
"faster" or "slower" when the figures differ by more than `NOISE`.
"""

import json
import pathlib

from cxr.errors import UserError

NOISE = 0.05  # figures within 5% of each other: "same" (repeats on 2 cores vary that much)


def load(path) -> dict:
    """A results file (`bench/results.json`-shaped); a `UserError` naming it otherwise."""
    path = pathlib.Path(path)
    try:
        results = json.loads(path.read_text())
        rows = results["rows"]
        if not all("row" in r and "figure" in r and "ratio" in r for r in rows):
            raise KeyError("row")
    except FileNotFoundError:
        raise UserError(f"--compare: {path} does not exist; give two bench results files") from None
    except (ValueError, KeyError, TypeError):
        raise UserError(
            f"--compare: {path} is not a bench results file (no 'rows' with 'row', 'figure' "
            "and 'ratio'); give files `cxr bench` wrote"
        ) from None
    return results


def verdict(old: float, new: float, unit: str) -> str:
    """ "faster", "slower" or "same" for the figure moving from `old` to `new`."""
    change = new / old if old else float("inf")
    if abs(change - 1) <= NOISE:
        return "same"
    faster = change > 1 if unit != "s" else change < 1
    return "faster" if faster else "slower"


def compare(old: dict, new: dict) -> list[dict]:
    """One entry per row name of either file, NEW's order first, then OLD's own rows.

    Returns:
        [{"row", "unit", "old", "new", "figure_ratio", "old_ratio", "new_ratio",
          "ratio_ratio", "verdict"}]: the figures' medians and NEW/OLD of each; None
        where a row is in one file only (verdict "only in OLD" / "only in NEW").
    """
    olds = {r["row"]: r for r in old["rows"]}
    news = {r["row"]: r for r in new["rows"]}
    names = list(news) + [n for n in olds if n not in news]
    entries = []
    for name in names:
        o, n = olds.get(name), news.get(name)
        unit = (n or o).get("unit", "images/s")
        entry = {"row": name, "unit": unit, "old": None, "new": None, "figure_ratio": None}
        entry.update(old_ratio=None, new_ratio=None, ratio_ratio=None)
        if o:
            entry.update(old=o["figure"]["median"], old_ratio=o["ratio"])
        if n:
            entry.update(new=n["figure"]["median"], new_ratio=n["ratio"])
        if o and n:
            entry["figure_ratio"] = _over(entry["new"], entry["old"])
            entry["ratio_ratio"] = _over(entry["new_ratio"], entry["old_ratio"])
            entry["verdict"] = verdict(entry["old"], entry["new"], unit)
        else:
            entry["verdict"] = "only in NEW" if n else "only in OLD"
        entries.append(entry)
    return entries


def _over(a, b):
    return a / b if b else None


def markdown(entries: list[dict], old_name: str, new_name: str) -> str:
    """The comparison as a Markdown table."""

    def number(x, fmt=".3g"):
        return "" if x is None else format(x, fmt)

    lines = [
        f"OLD: {old_name}; NEW: {new_name}",
        "",
        "| row | unit | OLD figure | NEW figure | NEW/OLD | OLD ratio | NEW ratio | NEW/OLD | |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        lines.append(
            f"| {e['row']} | {e['unit']} | {number(e['old'])} | {number(e['new'])} "
            f"| {number(e['figure_ratio'], '.2f')} | {number(e['old_ratio'], '.2f')} "
            f"| {number(e['new_ratio'], '.2f')} | {number(e['ratio_ratio'], '.2f')} "
            f"| {e['verdict']} |"
        )
    return "\n".join(lines)


def notes(old: dict, new: dict) -> list[str]:
    """Why the figures of `old` and `new` may not be comparable: other machines, a check run."""
    said = []
    machines = [r.get("machine", {}) for r in (old, new)]
    where = [f"{m.get('cpu')}, {m.get('cores')} cores, GPUs {m.get('gpus')}" for m in machines]
    if where[0] != where[1]:
        said.append(
            f"note: other machines (OLD: {where[0]}; NEW: {where[1]}): the figures differ by "
            "machine as much as by code"
        )
    for name, results in (("OLD", old), ("NEW", new)):
        if (results.get("scale") or 1) < 1:
            said.append(
                f"note: {name} is a check run (--scale {results['scale']}): not measurements"
            )
    return said


def main(old_path, new_path) -> str:
    """The table `cxr bench --compare OLD NEW` prints, after its `notes`."""
    old, new = load(old_path), load(new_path)
    table = markdown(compare(old, new), str(old_path), str(new_path))
    return "\n".join([*notes(old, new), table])
