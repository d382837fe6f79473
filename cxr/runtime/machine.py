"""The machine at hand, one definition for everything that records or keys on it.

`cxr.runtime.speed` caches its probe per machine (`facts`), and the benches
(`cxr.bench.rows`, `cxr.bench.scale`) print what they measured on; both take their CPU
name, core count and accelerators from here, so the two never disagree.

`cpu_name` and `cores` need no framework; `accelerators` and `facts` ask the Keras
backend, importing it on first call.
"""

import os
import pathlib
import platform


def cpu_name() -> str:
    """The CPU's model name (Linux /proc/cpuinfo, else `platform.processor()`)."""
    cpuinfo = pathlib.Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cores() -> int:
    """The CPU cores this process may run on.

    The affinity mask, not `os.cpu_count()`: a container or `taskset` may allow fewer
    cores than the machine has, and timings depend on the cores actually usable.
    """
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def accelerators() -> list[str]:
    """Names of the GPUs the Keras backend sees, e.g. ["NVIDIA H100 80GB HBM3"]."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return [d.device_kind for d in jax.devices() if d.platform != "cpu"]
    import tensorflow as tf

    return [
        tf.config.experimental.get_device_details(d).get("device_name", d.name)
        for d in tf.config.list_physical_devices("GPU")
    ]


def facts() -> dict:
    """CPU, cores, accelerators, the Keras backend and the versions of it and of Keras.

    Returns:
        {"cpu", "cores", "accelerators", "backend", <backend>: its version, "keras"}.
    """
    import keras

    backend = keras.backend.backend()
    lib = __import__("jax" if backend == "jax" else "tensorflow")
    return {
        "cpu": cpu_name(),
        "cores": cores(),
        "accelerators": accelerators(),
        "backend": backend,
        backend: lib.__version__,
        "keras": keras.__version__,
    }
