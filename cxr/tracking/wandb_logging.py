"""Weights & Biases for a run: online when logged in, offline otherwise, never required.

W&B's own Keras callbacks are written for tf.keras and need the network, so the
epoch records go through `EpochLog` instead, which works on any backend and
offline. W&B is online when the user is logged in (`wandb login` or
WANDB_API_KEY), offline otherwise; WANDB_MODE or the config's `wandb.mode`
overrides that.

Everything a run logs stays in its folder: W&B's files in `<run dir>/wandb/`, and
the files W&B stages for its artifacts (a table's images, the model) in the W&B
run's own `data/` there, not in the user's home, so a copied run directory syncs
whole and the home folder does not fill up. Every epoch metric plots against
`EPOCH_AXIS`, the epoch counted over all training phases.

W&B and Keras are imported where they are used, not with this module: `cxr score`,
`cxr readers` and `cxr compare` log to W&B without ever touching a model, and importing
Keras would start TensorFlow or JAX for them (seconds, before even `--help`).
`EpochLog`, a Keras callback class, is defined on first use for the same reason.
"""

import contextlib
import functools
import math
import netrc
import os
import pathlib
import secrets
import urllib.parse

from cxr.tracking.disabled_run import DISABLED, DisabledRun
from cxr.tracking.metric_keys import MONITOR, VAL_LOSS

EPOCH_AXIS = "global_epoch"  # 1, 2, ... over all phases; "epoch" restarts in each phase
EPOCH = "epoch"
PHASE = "phase"
LEARNING_RATE = "learning_rate"
LOSS = "loss"  # Keras's name for the training loss in its epoch logs
DATA = "data"  # in the W&B run's folder: W&B's data dir, whose artifacts/staging it stages in


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
    """Starts a W&B run whose files, staged artifact files included, go under `run_dir/wandb/`.

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
        job_type: "train" for an experiment, "eval" for a re-evaluation, "saliency"
            for a saliency study, "compare", "score" and "readers" for those commands.

    Returns:
        The `wandb` run, or a `DisabledRun` (nothing written) when W&B is disabled.
    """
    mode = resolve_wandb_mode(mode)
    if mode == "disabled":
        return DisabledRun()
    import wandb  # here, not at the top: see the module's docstring

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
    # W&B stages artifact files (a logged table's media, the model) in WANDB_DATA_DIR,
    # read each time it stages one, by default in the user's home. One process logs
    # one run at a time, so pointing it at this run keeps them in the run's folder.
    os.environ["WANDB_DATA_DIR"] = str(pathlib.Path(run.settings.sync_dir) / DATA)
    if job_type == "train":
        define_epoch_axis(run)
    if mode == "offline":
        print(f"W&B is offline; upload this run later with: wandb sync {run.settings.sync_dir}")
    return run


@contextlib.contextmanager
def finishing(run):
    """`with finishing(run) as run:` finishes a W&B run however the block ends: exit code 0
    when it ends, 1 when an error leaves it (the error goes on).

    Not `with run:`, W&B's own, which also prints the error's traceback: a `UserError`
    must reach the user as its one line.

    Args:
        run: A run from `init_wandb` (a `DisabledRun` too).
    """
    try:
        yield run
    except BaseException:
        run.finish(exit_code=1)
        raise
    run.finish()


def define_epoch_axis(run):
    """Plots every metric against `EPOCH_AXIS`, and keeps the best `MONITOR` as its summary.

    Args:
        run: A W&B run.
    """
    run.define_metric(EPOCH_AXIS)
    # step_sync (the default) gives rows without the axis, e.g. test results, its last value.
    run.define_metric("*", step_metric=EPOCH_AXIS)
    run.define_metric(MONITOR, step_metric=EPOCH_AXIS, summary="max")
    run.define_metric(VAL_LOSS, step_metric=EPOCH_AXIS, summary="min")  # chexnet's monitor


def log_model_artifact(run, path, name=None, aliases=("best",)):
    """Logs a model file as a W&B artifact of type "model", without copying it.

    W&B uploads an artifact's files from its staging folder and deletes them there
    afterwards; `wandb sync` deletes every file an offline artifact names. So the
    file is staged as a hard link (same disk: the staging folder is in the run's
    folder): no second copy, and the upload removes the link, never the model. Where
    no hard link can be made, W&B copies it. Either way it skips W&B's cache.

    Args:
        run: The run from `init_wandb`; a disabled one logs nothing.
        path: The file to log, e.g. `RunDir.model_file`.
        name: Artifact name; None uses "model-<W&B run id>".
        aliases: Aliases of this artifact version besides "latest".
    """
    if run.disabled:  # before the staging below: a disabled run would never upload it
        return
    import wandb

    path = pathlib.Path(path)
    artifact = wandb.Artifact(name or f"model-{run.id}", type="model")
    staged = _staged_link(path)
    if staged is None:  # W&B copies it
        artifact.add_file(str(path), skip_cache=True)
    else:
        artifact.add_file(str(staged), name=path.name, skip_cache=True, policy="immutable")
    run.log_artifact(artifact, aliases=list(aliases))


def log_folder_artifact(run, folder, name, kind):
    """Logs every file of `folder` as one W&B artifact of type `kind`, e.g. an export bundle.

    W&B copies the files into its staging folder first (the default "mutable" policy),
    so the upload, or `wandb sync`, deletes those copies and never the folder's files.

    Args:
        run: The run from `init_wandb`; a disabled one logs nothing.
        folder: The folder to log.
        name: The artifact's name.
        kind: The artifact's type.
    """
    if run.disabled:
        return
    import wandb

    artifact = wandb.Artifact(name, type=kind)
    artifact.add_dir(str(folder))
    run.log_artifact(artifact)


# W&B's staging folder is private API (wandb.sdk.artifacts.staging), as is its rule that
# an upload deletes what is staged there; both were tested with this W&B release only.
WANDB_STAGING_TESTED = "0.31"


def _staged_link(path):
    """A hard link to `path` in W&B's staging folder, or None where none should be made.

    None on a W&B release other than `WANDB_STAGING_TESTED` (the public `add_file` then
    copies the file: correct, one more copy on disk), and where no hard link can be made.
    """
    import wandb

    if ".".join(wandb.__version__.split(".")[:2]) != WANDB_STAGING_TESTED:
        return None
    from wandb.sdk.artifacts.staging import get_staging_dir

    staged = pathlib.Path(get_staging_dir()) / f"{secrets.token_hex(8)}-{path.name}"
    try:
        os.link(path, staged)
    except OSError:  # another file system, or none with hard links
        return None
    return staged


def epoch_record(model, epoch, logs):
    """The flat dict logged for one epoch: `EPOCH` (1-based), `LEARNING_RATE`, the logs.

    Args:
        model: The model being trained; its optimizer gives the learning rate
            when `logs` has none.
        epoch: Keras's 0-based epoch index.
        logs: Keras's epoch logs: losses, metrics, and what earlier callbacks added.
    """
    record = {EPOCH: epoch + 1}
    optimizer = getattr(model, "optimizer", None)
    if LEARNING_RATE not in logs and optimizer is not None:
        import keras

        # The property evaluates a learning-rate schedule at the current step.
        record[LEARNING_RATE] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    record.update({key: float(value) for key, value in logs.items()})
    return record


def __getattr__(name):
    """`EpochLog`, the Keras callback class, made on first use (PEP 562); see the docstring."""
    if name == "EpochLog":
        return _epoch_log_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _epoch_log_class():
    """The `EpochLog` class, a `keras.callbacks.Callback`: Keras is imported only here."""
    import keras

    class EpochLog(keras.callbacks.Callback):
        """Hands `epoch_record` plus constant entries and `EPOCH_AXIS` to `write` at each epoch end.

        Args:
            write: called with the record, e.g. `run.append_metrics` or a W&B run's `log`.
            extra: constant entries added to every record, e.g. `{"phase": "head"}`.
            finite: write NaN and infinities as None (strict JSON lines need it).
            epochs_before: epochs of earlier phases: `EPOCH_AXIS` is this plus `EPOCH`.
        """

        def __init__(self, write, extra=None, finite=False, epochs_before=0):
            super().__init__()
            self.write, self.extra, self.finite = write, dict(extra or {}), finite
            self.epochs_before = epochs_before

        def on_epoch_end(self, epoch, logs=None):
            record = {**self.extra, **epoch_record(self.model, epoch, logs or {})}
            record[EPOCH_AXIS] = self.epochs_before + record[EPOCH]
            if self.finite:
                record = {
                    k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                    for k, v in record.items()
                }
            self.write(record)

    EpochLog.__module__, EpochLog.__qualname__ = __name__, "EpochLog"  # as if defined at the top
    return EpochLog


def epoch_logs(run_dir, wandb_run=DISABLED):
    """The trainer's epoch logs: a factory `(phase) -> EpochLog` per destination.

    Records go to the run's metrics.jsonl and, if any, to W&B, each with its
    `PHASE`, its `EPOCH` in the phase and `EPOCH_AXIS`, the epoch over all phases.

    Args:
        run_dir: The `RunDir`, whose metrics.jsonl gets every record.
        wandb_run: A W&B run; a disabled one drops its records.
    """

    def before(phase):
        # Phases run in order and metrics.jsonl keeps each finished epoch (truncated on
        # resume), so when a phase starts, the records of other phases are the epochs
        # before it: right for a fresh phase and for a resumed one alike.
        return sum(record.get(PHASE) != phase for record in run_dir.read_metrics())

    def to_file(phase):
        return _epoch_log_class()(
            run_dir.append_metrics, {PHASE: phase}, finite=True, epochs_before=before(phase)
        )

    def to_wandb(phase):
        return _epoch_log_class()(wandb_run.log, {PHASE: phase}, epochs_before=before(phase))

    return [to_file, to_wandb]
