"""Run directories, a metrics.jsonl log and Weights & Biases logging for Keras 3.

Every run writes to its own directory:

    runs/<name>/<run id>/
        config.json      the experiment config
        metrics.jsonl    one JSON line per epoch, written as the epoch ends
        model.keras      the final/best model (written by the trainer)
        checkpoints/     checkpoints (written by the trainer)
        eval/            evaluation outputs (written by the evaluator)
        wandb/           W&B's local files, online or offline

W&B's own Keras callbacks are written for tf.keras and need the network, so
the callbacks here are small Keras 3 ones that work on any backend and
offline. W&B is online when the user is logged in (`wandb login` or
WANDB_API_KEY), offline otherwise; WANDB_MODE overrides that.
"""

import json
import math
import netrc
import os
import pathlib
import secrets
import time
import urllib.parse

import keras
import wandb

from cxr.localization import ALL_BOXES
from cxr.metrics import macro_auroc

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
MODEL_FILE = "model.keras"
CHECKPOINTS_DIR = "checkpoints"
EVAL_DIR = "eval"


def create_run_dir(name, config=None, root="runs", run_id=None):
    """Creates `root/name/run_id/` with its subfolders and `config.json`.

    Args:
        name: Experiment name, the first level under `root`.
        config: A JSON-serialisable dict written to `config.json` (values
            JSON cannot hold are written as strings); None writes no file.
        root: Folder holding all runs; "runs" in the working directory.
        run_id: Folder name of this run; None makes a new one from the local
            time and a random suffix, e.g. "20250101-120000-3fa2".

    Returns:
        The run directory as a `pathlib.Path`.

    Raises:
        FileExistsError: If the run directory exists already.
    """
    if run_id is None:
        run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    run_dir = pathlib.Path(root) / name / run_id
    run_dir.mkdir(parents=True)
    (run_dir / CHECKPOINTS_DIR).mkdir()
    (run_dir / EVAL_DIR).mkdir()
    if config is not None:
        text = json.dumps(config, indent=2, sort_keys=True, default=str)
        (run_dir / CONFIG_FILE).write_text(text + "\n")
    return run_dir


def finish_run(run_dir, wandb_run=None):
    """Finishes the W&B run, if any, and prints where the run's files are.

    Args:
        run_dir: The run directory from `create_run_dir`.
        wandb_run: The run from `init_wandb`, or None.
    """
    if wandb_run is not None:
        wandb_run.finish()
    print(f"Run files: {run_dir}")


def resolve_wandb_mode(mode=None):
    """Returns the W&B mode to use: "online", "offline" or "disabled".

    Args:
        mode: An explicit mode; None means WANDB_MODE if set, else "online"
            when a W&B API key is configured and "offline" otherwise.
    """
    mode = mode or os.environ.get("WANDB_MODE")
    if mode:
        return mode
    return "online" if _has_wandb_api_key() else "offline"


def _has_wandb_api_key():
    """Whether WANDB_API_KEY is set or `wandb login` stored a key; no network."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    url = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")
    try:
        # `wandb login` stores the key in ~/.netrc (or the file NETRC names).
        entries = netrc.netrc(os.environ.get("NETRC"))
    except (OSError, netrc.NetrcParseError):
        return False
    return entries.authenticators(urllib.parse.urlparse(url).hostname) is not None


def init_wandb(config, name, run_dir, tags=(), group=None, mode=None, project="cxr", run_id=None):
    """Starts a W&B run whose local files go under `run_dir/wandb/`.

    Args:
        config: A dict of hyperparameters, shown as the run's config.
        name: Display name of the run.
        run_dir: The run directory from `create_run_dir`.
        tags: Tags of the run.
        group: W&B group, e.g. to gather the runs of one sweep; None for none.
        mode: "online", "offline" or "disabled"; None picks one, see
            `resolve_wandb_mode`.
        project: W&B project name.
        run_id: W&B run id, e.g. `run_dir.name`; a run started again with the
            same id (a resumed training) continues that W&B run. None lets
            W&B pick a new id.

    Returns:
        The `wandb` run, or None when W&B is disabled.
    """
    mode = resolve_wandb_mode(mode)
    if mode == "disabled":
        return None
    run = wandb.init(
        project=project,
        name=name,
        group=group,
        tags=list(tags),
        config=config,
        dir=str(run_dir),
        mode=mode,
        id=run_id,
        resume="allow" if run_id else None,
    )
    if mode == "offline":
        print(f"W&B is offline; upload this run later with: wandb sync {run.settings.sync_dir}")
    return run


def epoch_record(model, epoch, logs):
    """Returns the flat dict logged for one epoch.

    Args:
        model: The model being trained; its optimizer gives the learning rate
            when `logs` has none.
        epoch: Keras's 0-based epoch index; the record holds it 1-based.
        logs: Keras's epoch logs: losses, metrics, and whatever earlier
            callbacks added (e.g. "val/macro_auroc", "val/auroc/<Label>").

    Returns:
        A dict name -> Python float, with "epoch" and "learning_rate".
    """
    record = {"epoch": epoch + 1}
    optimizer = getattr(model, "optimizer", None)
    if "learning_rate" not in logs and optimizer is not None:
        # The property evaluates a learning-rate schedule at the current step.
        record["learning_rate"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    record.update({key: float(value) for key, value in logs.items()})
    return record


class JsonlMetricsCallback(keras.callbacks.Callback):
    """Appends `epoch_record` as one JSON line to a file at each epoch end.

    The file is opened, written and closed every epoch, so a killed run keeps
    every finished epoch. NaN and infinite values are written as null to keep
    the lines strict JSON. Put this callback after any callback that adds
    entries to the epoch logs.

    Args:
        path: The .jsonl file; created if missing, appended to otherwise.
        extra: Constant entries added to every line, e.g. `{"phase": "head"}`.
    """

    def __init__(self, path, extra=None):
        super().__init__()
        self.path = pathlib.Path(path)
        self.extra = dict(extra or {})

    def on_epoch_end(self, epoch, logs=None):
        record = epoch_record(self.model, epoch, logs or {})
        record = {k: (v if math.isfinite(v) else None) for k, v in record.items()}
        with open(self.path, "a") as f:
            f.write(json.dumps({**self.extra, **record}) + "\n")


def truncate_metrics(path, phase, epochs):
    """Drops the lines of `phase` after its epoch `epochs` from a metrics.jsonl file.

    A run killed after logging an epoch but before checkpointing it repeats that
    epoch when resumed; this keeps one line per epoch.
    """
    path = pathlib.Path(path)
    if not path.exists():
        return
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    kept = [r for r in records if r.get("phase") != phase or r["epoch"] <= epochs]
    path.write_text("".join(json.dumps(r) + "\n" for r in kept))


class WandbMetricsCallback(keras.callbacks.Callback):
    """Logs `epoch_record` to a W&B run at each epoch end.

    Put this callback after any callback that adds entries to the epoch logs.

    Args:
        run: The run from `init_wandb`; None makes the callback do nothing,
            so a trainer can always add it.
        extra: Constant entries added to every record, e.g. `{"phase": "head"}`.
    """

    def __init__(self, run, extra=None):
        super().__init__()
        self.run = run
        self.extra = dict(extra or {})

    def on_epoch_end(self, epoch, logs=None):
        if self.run is not None:
            self.run.log({**self.extra, **epoch_record(self.model, epoch, logs or {})})


def log_test_aurocs(run, aurocs, prefix="test"):
    """Logs a per-label AUROC table and puts the AUROCs in the run summary.

    Logs the table `<prefix>/auroc_table` (columns label, auroc) and sets the
    summary keys `<prefix>/macro_auroc` and `<prefix>/auroc/<Label>`.

    Args:
        run: The run from `init_wandb`; None does nothing.
        aurocs: A dict label name -> AUROC from `cxr.metrics.per_label_auroc`.
        prefix: The split the AUROCs were measured on.
    """
    if run is None:
        return
    rows = [[label, value] for label, value in aurocs.items()]
    run.log({f"{prefix}/auroc_table": wandb.Table(columns=["label", "auroc"], data=rows)})
    run.summary[f"{prefix}/macro_auroc"] = macro_auroc(aurocs)
    for label, value in aurocs.items():
        run.summary[f"{prefix}/auroc/{label}"] = value


def log_model_artifact(run, path, name=None, aliases=("best",)):
    """Uploads a model file as a W&B artifact of type "model".

    Offline, the artifact is stored with the run and uploaded by `wandb sync`.

    Args:
        run: The run from `init_wandb`; None does nothing.
        path: The file to log, e.g. `run_dir / MODEL_FILE`.
        name: Artifact name; None uses "model-<W&B run id>".
        aliases: Aliases of this artifact version besides "latest".
    """
    if run is None:
        return
    artifact = wandb.Artifact(name or f"model-{run.id}", type="model")
    artifact.add_file(str(path))
    run.log_artifact(artifact, aliases=list(aliases))


def log_localization(run, table, prefix="test"):
    """Logs a `cxr.localization.localization_table` as a W&B table, pointing rates in the summary.

    Args:
        run: The run from `init_wandb`; None does nothing.
        table: label -> {"n", "pointing", "random/pointing", "iobb@T", "iou@T", ...},
            with the `ALL_BOXES` row last.
        prefix: The split the heatmaps were measured on.
    """
    if run is None:
        return
    keys = list(next(iter(table.values())))
    rows = [[label, *(row[k] for k in keys)] for label, row in table.items()]
    run.log({f"{prefix}/localization": wandb.Table(columns=["label", *keys], data=rows)})
    for label, row in table.items():
        run.summary[f"{prefix}/pointing/{label}"] = row["pointing"]
    # The headline: every box, beside what a random heatmap scores.
    for key in ("pointing", "pointing_tol"):
        for source in ("", "random/", "p/"):
            run.summary[f"{prefix}/{source}{key}"] = table[ALL_BOXES][f"{source}{key}"]
