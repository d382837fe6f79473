"""Weights & Biases for a run: online when logged in, offline otherwise, never required.

W&B's own Keras callbacks are written for tf.keras and need the network, so the
epoch records go through `cxr.callbacks.EpochLog` instead, which works on any
backend and offline. W&B is online when the user is logged in (`wandb login` or
WANDB_API_KEY), offline otherwise; WANDB_MODE or the config's `wandb.mode`
overrides that. Its files go in the run directory's wandb/ folder.
"""

import math
import netrc
import os
import urllib.parse

import keras
import wandb


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


def init_wandb(
    *,
    config,
    name,
    run_dir,
    tags=(),
    group=None,
    mode=None,
    project="cxr",
    run_id=None,
    job_type="train",
):
    """Starts a W&B run whose local files go under `run_dir/wandb/`.

    Args:
        config: A dict of hyperparameters, shown as the run's config.
        name: Display name of the run.
        run_dir: The folder whose `wandb/` holds W&B's files (a run directory).
        tags: Tags of the run.
        group: W&B group, e.g. to gather the runs of one sweep; None for none.
        mode: "online", "offline" or "disabled"; None picks one, see
            `resolve_wandb_mode`.
        project: W&B project name.
        run_id: W&B run id, e.g. `run_dir.name`; a run started again with the
            same id (a resumed training) continues that W&B run. None lets
            W&B pick a new id.
        job_type: "train" for an experiment, "eval" for a re-evaluation,
            "compare" for a comparison of runs.

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
        job_type=job_type,
    )
    if mode == "offline":
        print(f"W&B is offline; upload this run later with: wandb sync {run.settings.sync_dir}")
    return run


def log_model_artifact(run, path, name=None, aliases=("best",)):
    """Uploads a model file as a W&B artifact of type "model".

    Offline, the artifact is stored with the run and uploaded by `wandb sync`.

    Args:
        run: The run from `init_wandb`; None does nothing.
        path: The file to log, e.g. `RunDir.model_file`.
        name: Artifact name; None uses "model-<W&B run id>".
        aliases: Aliases of this artifact version besides "latest".
    """
    if run is None:
        return
    artifact = wandb.Artifact(name or f"model-{run.id}", type="model")
    artifact.add_file(str(path))
    run.log_artifact(artifact, aliases=list(aliases))


def epoch_record(model, epoch, logs):
    """The flat dict logged for one epoch: "epoch" (1-based), "learning_rate", the logs.

    Args:
        model: The model being trained; its optimizer gives the learning rate
            when `logs` has none.
        epoch: Keras's 0-based epoch index.
        logs: Keras's epoch logs: losses, metrics, and what earlier callbacks added.
    """
    record = {"epoch": epoch + 1}
    optimizer = getattr(model, "optimizer", None)
    if "learning_rate" not in logs and optimizer is not None:
        # The property evaluates a learning-rate schedule at the current step.
        record["learning_rate"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    record.update({key: float(value) for key, value in logs.items()})
    return record


class EpochLog(keras.callbacks.Callback):
    """Hands `epoch_record` plus constant entries to `write` at each epoch end.

    Args:
        write: called with the record, e.g. `run.append_metrics` or a W&B run's `log`.
        extra: constant entries added to every record, e.g. `{"phase": "head"}`.
        finite: write NaN and infinities as None (strict JSON lines need it).
    """

    def __init__(self, write, extra=None, finite=False):
        super().__init__()
        self.write, self.extra, self.finite = write, dict(extra or {}), finite

    def on_epoch_end(self, epoch, logs=None):
        record = {**self.extra, **epoch_record(self.model, epoch, logs or {})}
        if self.finite:
            record = {
                k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in record.items()
            }
        self.write(record)
