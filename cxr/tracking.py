"""Weights & Biases for a run: online when logged in, offline otherwise, never required.

W&B's own Keras callbacks are written for tf.keras and need the network, so the
epoch records go through `cxr.callbacks.EpochLog` instead, which works on any
backend and offline. W&B is online when the user is logged in (`wandb login` or
WANDB_API_KEY), offline otherwise; WANDB_MODE or the config's `wandb.mode`
overrides that. Its files go in the run directory's wandb/ folder.
"""

import netrc
import os
import urllib.parse

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
