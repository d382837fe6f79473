"""The one writer of evaluation results: files on disk, W&B items, terminal text.

Evaluators (`cxr.evaluation.evaluators`) compute and return a `Result`; they never write.
`write` puts every result's files on disk first, then logs its W&B items (so an
image logged from a file finds it written), then prints its text. Evaluators
stay testable without a W&B run or a disk, and every output passes one place.

A command that writes a whole folder (`cxr score`, `cxr readers`) stages it: `check_out`
refuses a folder in use, `write_whole` writes into `staging_dir` and renames it, so the
folder is written whole or not at all.
"""

import dataclasses
import json
import math
import os
import pathlib
import re
import shutil
from typing import Any

import numpy as np

from cxr.errors import UserError
from cxr.tracking import wandb_logging
from cxr.tracking.disabled_run import DISABLED


@dataclasses.dataclass
class Image:
    """A W&B image: a file written by the same result, or a uint8 array.

    Attributes:
        data: A path (one of the result's files) or an array (H, W) / (H, W, 3).
        caption: Shown under the image in W&B.
        boxes: W&B box groups, e.g. {"ground_truth": {"box_data": [...], "class_labels": {...}}}.
        masks: W&B mask groups, e.g. {"heat": {"mask_data": array, "class_labels": {...}}}.
    """

    data: Any
    caption: str | None = None
    boxes: dict | None = None
    masks: dict | None = None


@dataclasses.dataclass
class Table:
    """A W&B table; cells may be `Image`s."""

    columns: list
    rows: list


@dataclasses.dataclass
class Result:
    """What one evaluator returns.

    Attributes:
        files: path -> content: str (text), bytes, a dict (strict JSON, NaN as null),
            or a matplotlib `Figure` (PNG at the figure's own dpi).
        log: W&B history items: key -> `Table`, `Image`, or a number.
        summary: W&B summary items: key -> number.
        text: What the terminal shows.
    """

    files: dict = dataclasses.field(default_factory=dict)
    log: dict = dataclasses.field(default_factory=dict)
    summary: dict = dataclasses.field(default_factory=dict)
    text: str = ""


def split_prefix(split):
    """The W&B key prefix of results on a split: its name, e.g. "test" for "test[:50%]"."""
    return re.match(r"\w+", split).group()


def wandb_key(prefix, key):
    """The W&B key under which `write` logs a result's item `key`, e.g. "test/per_label"."""
    return f"{prefix}/{key}"


def write(results, *, wandb_run=DISABLED, prefix="test"):
    """Writes results: their files, then W&B items under `<prefix>/`, then their text.

    Args:
        results: `Result`s, in the order their text should appear.
        wandb_run: A W&B run; a disabled one (the default): files and text only.
        prefix: The split the results are on (`split_prefix`), prefixed to every W&B key.

    Returns:
        Every file path written.
    """
    written = []
    for result in results:
        for path, content in result.files.items():
            written.append(_write_file(pathlib.Path(path), content))
    for result in results:
        if result.log and not wandb_run.disabled:  # _to_wandb imports wandb: not for nothing
            wandb_run.log({wandb_key(prefix, k): _to_wandb(v) for k, v in result.log.items()})
        for key, value in result.summary.items():
            wandb_run.summary[wandb_key(prefix, key)] = value
    for result in results:
        if result.text:
            print(result.text)
    return written


def json_safe(value):
    """NaN/inf -> None, numpy scalars -> Python, recursively, so the JSON is strict."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _write_file(path, content):
    from matplotlib.figure import Figure  # here: seconds that `cxr score --help` need not pay

    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, Figure):
        content.savefig(path, dpi=content.dpi)  # each figure sets its own resolution
    elif isinstance(content, dict):
        path.write_text(json.dumps(json_safe(content), indent=1) + "\n")
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def _to_wandb(value):
    import wandb

    if isinstance(value, Image):
        data = str(value.data) if isinstance(value.data, pathlib.Path) else value.data
        return wandb.Image(data, caption=value.caption, boxes=value.boxes, masks=value.masks)
    if isinstance(value, Table):
        rows = [[_to_wandb(cell) for cell in row] for row in value.rows]
        return wandb.Table(columns=list(value.columns), data=rows)
    return value


def staging_dir(out: pathlib.Path) -> pathlib.Path:
    """Where `out`'s files are written before `write_whole` renames the folder to `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return out.parent / f".{out.name}.partial-{os.getpid()}"


def write_whole(result: Result, staging, out, *, wandb_args=None, prefix="test") -> None:
    """Writes `result` (its paths under `staging`), renames `staging` to `out`, then logs it.

    Args:
        result: files under `staging`, W&B items, text.
        staging: `staging_dir(out)`.
        out: the folder the files end in.
        wandb_args: `wandb_logging.init_wandb`'s arguments but `run_dir` (W&B's files go
            in `out`); None: no W&B.
        prefix: the W&B key prefix (`cxr.evaluation.score.wandb_prefix`).
    """
    try:
        write([dataclasses.replace(result, log={}, summary={})])
        if out.is_dir():
            out.rmdir()  # empty: checked before anything was written
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if wandb_args is None:
        return
    # W&B starts once the files are in place, so its images are read from `out`.
    run = wandb_logging.init_wandb(run_dir=out, **wandb_args)

    def moved(value):
        if isinstance(value, Image) and isinstance(value.data, pathlib.Path):
            return dataclasses.replace(value, data=out / value.data.relative_to(staging))
        return value

    log = {k: moved(v) for k, v in result.log.items()}
    write([Result(log=log, summary=result.summary)], wandb_run=run, prefix=prefix)
    run.finish()


def check_out(out: pathlib.Path) -> None:
    """Refuses an --out that exists and is not an empty folder (nothing is overwritten)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out {out} exists and is not an empty folder; pass a new folder")
