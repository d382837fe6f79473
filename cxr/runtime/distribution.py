"""Data-parallel training on every device of a machine, or on several machines.

    dist = distribute.setup(config.distribution, batch_sizes={"data.batch_size": 32})
    print(dist.line(batch_size=32, head_batch_size=256))   # devices: 2 x GPU ...
    with dist.scope():                                       # build, compile, fit, evaluate
        ...

The config field `distribution` is "auto" (every device of each process), "none" (one
device and no strategy: the plain run) or a count N (the first N devices of each process).

`batch_size` is global: the images of one optimizer step over every device and process.
One device or eight take the same steps on the same batches, so the learning rates stay
as configured, with no scaling rule; each device gets batch_size / devices images, and
BatchNorm normalises over the global batch (JAX's SPMD means are global; on TensorFlow
the layers are switched to synchronized statistics while training).

Engines: on JAX, `keras.distribution.DataParallel` over the devices, after
`keras.distribution.initialize()` when KERAS_DISTRIBUTION_JOB_ADDRESSES,
KERAS_DISTRIBUTION_NUM_PROCESSES and KERAS_DISTRIBUTION_PROCESS_ID describe several
processes (read by `cxr.runtime.cluster_env`); on TensorFlow, `tf.distribute.MirroredStrategy` over the local devices, or
`MultiWorkerMirroredStrategy` when TF_CONFIG names several workers. Each process reads
its own shard of the training records (`fit_input`). Every process runs the same
program; process 0 (the chief) alone writes the run directory and W&B, the others write
their copies (checkpoints every process must save) to a scratch folder (`runs_dir`).

`predict` is the one prediction path (validation, feature cache, evaluation, Grad-CAM):
every call gets exactly batch_size rows, zeros padding the last, so each image is scored
once, in order, whatever the devices.
"""

import contextlib
import dataclasses
import os
import pathlib
import tempfile

import keras
import numpy as np

from cxr.errors import UserError
from cxr.runtime import keras_compat
from cxr.runtime.cluster_env import cluster, parse


@dataclasses.dataclass(frozen=True)
class Feed:
    """One process's share of the training input.

    Attributes:
        shards, index: the examples are cut into `shards` equal parts (the few left over
            are dropped) and this process reads part `index`.
        batch_size: rows this process feeds per optimizer step.
        multiple: a batch is kept only if this divides its rows, so that the devices
            split every batch evenly; only an epoch's last batch can be dropped.
    """

    shards: int = 1
    index: int = 0
    batch_size: int = 32
    multiple: int = 1

    @property
    def shard(self) -> tuple[int, int]:
        return self.shards, self.index


@dataclasses.dataclass(frozen=True)
class Setup:
    """The devices a run trains on and the engine that spreads the work over them.

    Attributes:
        backend: "tensorflow" or "jax".
        devices: devices used, over every process.
        local_devices: devices used by this process.
        found: devices this process found.
        kind: "CPU", "GPU" or "TPU".
        processes, process: how many processes, and this one's index (0 is the chief).
        engine: the `tf.distribute.Strategy` or `keras.distribution.DataParallel`; None
            on one device.
        engine_name: what the `devices:` line calls it.
    """

    backend: str
    devices: int = 1
    local_devices: int = 1
    found: int = 1
    kind: str = "CPU"
    processes: int = 1
    process: int = 0
    engine: object = None
    engine_name: str = "no strategy"

    @property
    def is_chief(self) -> bool:
        return self.process == 0

    def scope(self):
        """The context to build, compile, fit and evaluate the model in."""
        return self.engine.scope() if self.engine is not None else contextlib.nullcontext()

    def runs_dir(self, runs_dir) -> pathlib.Path:
        """Where this process keeps its run directory: the chief's is the record; another
        process's copy goes to a scratch folder, kept to resume and removed when the run ends."""
        if self.is_chief:
            return pathlib.Path(runs_dir)
        return pathlib.Path(tempfile.gettempdir()) / f"cxr-process-{self.process}"

    def line(self, *, batch_size, head_batch_size) -> str:
        """The `devices: N ...` line a run prints first."""
        where = f"{self.processes} processes" if self.processes > 1 else "1 process"
        return (
            f"devices: {self.devices} ({self.local_devices} x {self.kind} per process, {where}; "
            f"{self.found} found here) | {self.backend}, {self.engine_name} | batch {batch_size} global = "
            f"{batch_size // self.devices} per device (head on features: {head_batch_size} = "
            f"{head_batch_size // self.devices}) | learning rates as configured: batch_size "
            "is global, so any device count takes the same steps"
        )

    def feed(self, batch_size) -> Feed:
        """This process's share of `batch_size`-row steps over training records.

        The shards are equal, so every process keeps the same batches and takes the
        same steps.
        """
        per_process = batch_size // self.processes
        multiple = self.local_devices
        if self.backend == "tensorflow" and self.processes > 1 and self.local_devices > 1:
            # `fit_input` cuts each batch into one part per replica: only whole ones fit.
            multiple = per_process
        return Feed(self.processes, self.process, per_process, multiple)

    def array_feed(self, batch_size) -> Feed:
        """This process's share of `batch_size`-row steps over arrays every process holds."""
        if self.backend == "tensorflow":  # tf.distribute splits each global batch itself
            return Feed(batch_size=batch_size, multiple=self.devices)
        return self.feed(batch_size)

    def fit_input(self, make, batch_size):
        """What `fit` takes for `batch_size`-row steps: this process's share of the records.

        `make(batch_size=, shard=, multiple=)` returns that share as a `tf.data.Dataset`
        (`cxr.data.datasets.batches` takes these arguments; see `Feed`).

        MultiWorkerMirroredStrategy would treat a dataset as global batches and cut it
        itself; each worker's own shard goes through `distribute_datasets_from_function`,
        sharded by its input context and cut into per-replica batches.
        """
        feed = self.feed(batch_size)
        kwargs = dict(batch_size=feed.batch_size, shard=feed.shard, multiple=feed.multiple)
        if self.backend != "tensorflow" or self.processes == 1:
            return make(**kwargs)

        def dataset(context):
            shard = (context.num_input_pipelines, context.input_pipeline_id)
            per_replica = context.get_per_replica_batch_size(batch_size)
            return make(**{**kwargs, "shard": shard}).rebatch(per_replica)

        return self.engine.distribute_datasets_from_function(dataset)

    def check_batch(self, name, size) -> None:
        """Raises a `UserError` unless the devices split `size` evenly."""
        if size % self.devices:
            fit = size - size % self.devices or self.devices
            raise UserError(
                f"{name}={size} cannot be split evenly over {self.devices} devices; use a "
                f"multiple of {self.devices}, e.g. --config.{name}={fit}"
            )

    def sync_batchnorm(self, model) -> None:
        """BatchNorm over the global batch on TensorFlow (each replica's share otherwise)."""
        if self.backend == "tensorflow" and self.devices > 1:
            for layer in _batchnorms(model):
                layer.synchronized = True


def setup(value, *, batch_sizes, env=None) -> Setup:
    """Resolves `distribution` and the environment into the devices and their engine.

    Call it first: multi-host engines must start before any computation. Nothing is
    written.

    Args:
        value: the `distribution` config field.
        batch_sizes: {config field: size} of the batches the devices must split.
        env: the environment (default `os.environ`).

    Raises:
        UserError: one line naming the value and the fix, for an unknown value, an
            incomplete multi-host environment, more devices than there are, or a batch
            the devices cannot split.
    """
    backend = keras.backend.backend()
    per_process = parse(value)
    processes, process = cluster(backend, os.environ if env is None else env)
    if per_process == 0 and processes > 1:
        raise UserError(
            f"distribution='none' but the environment describes {processes} processes; use "
            "--config.distribution=auto, or unset the multi-host variables"
        )
    if backend == "jax":
        result = _jax(per_process, processes, process)
    elif backend == "tensorflow":
        result = _tensorflow(per_process, processes, process)
    else:
        raise UserError(f"distribution runs on TensorFlow or JAX, not {backend}")
    for name, size in batch_sizes.items():
        result.check_batch(name, size)
    return result


def single() -> Setup:
    """One device, no strategy: what library calls assume unless given a `Setup`."""
    return Setup(keras.backend.backend())


def _count(per_process, found, kind):
    if per_process is not None and per_process > found:
        raise UserError(
            f"distribution={per_process} but this process has {found} {kind} device(s); use "
            f"--config.distribution=auto or a count up to {found}"
        )
    return found if per_process is None else max(per_process, 1)


def _jax(per_process, processes, process) -> Setup:
    import jax

    if processes > 1:
        keras.distribution.initialize()  # reads KERAS_DISTRIBUTION_*; before any JAX work
    found = jax.local_devices()
    count = _count(per_process, len(found), found[0].platform.upper())
    by_process = {}
    for device in jax.devices():
        by_process.setdefault(device.process_index, []).append(device)
    devices = [d for p in sorted(by_process) for d in by_process[p][:count]]
    # Each process feeds its own share of a batch (`fit_input`), so no auto-sharding.
    engine = (
        keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)
        if len(devices) > 1
        else None
    )
    return Setup(
        "jax",
        devices=len(devices),
        local_devices=count,
        found=len(found),
        kind=found[0].platform.upper(),
        processes=processes,
        process=process,
        engine=engine,
        engine_name="DataParallel" if engine else "no strategy",
    )


def _tensorflow(per_process, processes, process) -> Setup:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")  # listing does not start the runtime
    if processes > 1:
        keras_compat.patch_fit_for_several_workers()  # first: it refuses an untested Keras
        if gpus and per_process:
            tf.config.set_visible_devices(gpus[:per_process], "GPU")
        # Before anything starts TensorFlow's runtime: collectives are set up at startup.
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        local = len(strategy.extended.worker_devices)
        return Setup(
            "tensorflow",
            devices=strategy.num_replicas_in_sync,
            local_devices=local,
            found=len(gpus) or 1,  # the strategy takes one CPU, however it is split
            kind="GPU" if gpus else "CPU",
            processes=processes,
            process=process,
            engine=strategy,
            engine_name="MultiWorkerMirroredStrategy",
        )
    kind = "GPU" if gpus else "CPU"
    found = tf.config.list_logical_devices(kind)  # CXR_VIRTUAL_CPUS made several CPUs
    count = _count(per_process, len(found), kind)
    engine = tf.distribute.MirroredStrategy([d.name for d in found[:count]]) if count > 1 else None
    return Setup(
        "tensorflow",
        devices=count,
        local_devices=count,
        found=len(found),
        kind=kind,
        engine=engine,
        engine_name="MirroredStrategy" if engine else "no strategy",
    )


def predict(model, x, batch_size) -> np.ndarray:
    """`model`'s outputs for every row of `x`, in order, each computed once.

    Every call gets exactly `batch_size` rows, zeros padding the last, so the model
    compiles one shape, the devices split each call evenly, and the padding's rows are
    dropped. Under a strategy on one process, Keras's `predict` spreads each call over
    the devices; otherwise `predict_on_batch` runs it, without `predict`'s per-call
    overhead (about 30% of a batch of 16 at 128 px on a CPU). With several JAX processes
    Keras's `predict` cannot return an array that spans another process's devices, so
    `predict_on_batch` runs the call replicated (every device scores it whole: correct,
    not faster).

    Args:
        model: a Keras model, built in the run's scope.
        x: an array, or an iterable of batches (arrays, or `(inputs, labels)` as
            `cxr.data.datasets.batches` yields), none longer than `batch_size`.
        batch_size: rows per call; a multiple of the devices.

    Returns:
        float32 outputs, one row per row of `x`.
    """
    batches = x
    if hasattr(x, "shape"):
        rows = np.asarray(x)
        # At least one call, so that even no rows get the model's output shape.
        batches = [rows[start : start + batch_size] for start in range(0, len(rows), batch_size)]
        batches = batches or [rows]
    outputs = []
    for batch in batches:
        batch = np.asarray(batch[0] if isinstance(batch, tuple) else batch)
        padded = np.pad(batch, [(0, batch_size - len(batch))] + [(0, 0)] * (batch.ndim - 1))
        if _spread(model):
            out = model.predict(padded, batch_size=batch_size, verbose=0)
        else:
            out = model.predict_on_batch(padded)
        outputs.append(np.asarray(out, dtype=np.float32)[: len(batch)])
    if not outputs:
        return np.zeros((0, *model.output.shape[1:]), np.float32)
    return np.concatenate(outputs)


def _spread(model) -> bool:
    """Whether Keras's `predict` must split calls of `model` over devices (see `predict`)."""
    if keras.backend.backend() == "tensorflow":
        # predict_on_batch would give every replica the whole batch and concatenate them.
        return model.distribute_strategy.num_replicas_in_sync > 1
    import jax

    return keras.distribution.distribution() is not None and jax.process_count() == 1


def _batchnorms(model):
    # cxr models are flat (`cxr.model.classifier`): every BatchNorm is one of the model's own layers.
    return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


@contextlib.contextmanager
def portable(model):
    """Within it, `model` saves as it would on one device.

    A synchronized BatchNorm's config only loads on TensorFlow; the flag matters only
    while training, so files never carry it.
    """
    synced = [layer for layer in _batchnorms(model) if layer.synchronized]
    for layer in synced:
        layer.synchronized = False
    try:
        yield model
    finally:
        for layer in synced:
            layer.synchronized = True
