"""The quiet start of the backends and `CXR_VIRTUAL_CPUS`, called first by the `cxr` command.

Loading TensorFlow, Keras and TFDS writes C++ log lines to stderr before their logging
can be configured (oneDNN, CUDA stubs, CPU features, and from JAX a failed
`cuInit` on machines without an NVIDIA driver); no environment variable stops
them. They would bury cxr's one-line errors and progress, so `start()` makes the first import
with stderr held: INFO lines, absl's preamble and that `cuInit` line
are dropped, anything else is replayed. Runs print the devices they use, so a
missing GPU still shows. `CXR_TF_LOGS=1` shows every line.

`CXR_VIRTUAL_CPUS=N` splits the CPU into N devices, for trying data-parallel training
(`cxr.runtime.distribution`) without GPUs. It must act before either engine starts, hence in `start()`:
XLA_FLAGS for JAX (read when JAX first looks for devices) and N logical CPU devices for
TensorFlow (configurable only until its runtime starts).
"""

import os
import re
import sys
import tempfile

from cxr.errors import UserError, exits_cleanly

_NOISE = re.compile(
    r"^(I\d{4} |WARNING: All log messages before absl::InitializeLog"
    r"|To enable the following instructions:|E\d{4} .*failed call to cuInit)"
)


def _virtual_cpus() -> int:
    """`CXR_VIRTUAL_CPUS` as a count (0 when unset); sets XLA_FLAGS for JAX."""
    value = os.environ.get("CXR_VIRTUAL_CPUS", "").strip()
    if not value:
        return 0
    if not value.isdigit() or int(value) < 1:
        raise UserError(f"CXR_VIRTUAL_CPUS={value!r}: use a device count such as 2")
    flag = f"--xla_force_host_platform_device_count={value}"
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()
    return int(value)


def _split_tensorflow_cpu(count):
    """N logical CPU devices for TensorFlow; physical devices are listed without starting it."""
    import tensorflow

    if count:
        cpu = tensorflow.config.list_physical_devices("CPU")[0]
        devices = [tensorflow.config.LogicalDeviceConfiguration()] * count
        tensorflow.config.set_logical_device_configuration(cpu, devices)


def _import_backends_quietly(virtual_cpus):
    if os.environ.get("CXR_TF_LOGS"):
        _split_tensorflow_cpu(virtual_cpus)
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            import keras
            import tensorflow
            import tensorflow_datasets  # noqa: F401

            tensorflow.config.list_physical_devices()  # TF looks for CUDA on first use
            _split_tensorflow_cpu(virtual_cpus)
            if keras.backend.backend() == "jax":  # tf.data only: leave the GPUs to JAX
                tensorflow.config.set_visible_devices([], "GPU")
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().decode(errors="replace").splitlines(keepends=True)
    sys.stderr.write("".join(line for line in lines if not _NOISE.match(line)))


_started = False


@exits_cleanly
def start() -> None:
    """Imports TensorFlow, Keras and TFDS quietly, once; applies `CXR_VIRTUAL_CPUS` first.

    Called by the `cxr` command before any subcommand module is imported. A notebook
    that wants virtual CPUs or quiet logs calls it before importing Keras.
    """
    global _started
    if not _started:
        _import_backends_quietly(_virtual_cpus())
        _started = True
