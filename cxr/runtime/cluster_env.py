"""The `distribution` config field and the multi-host environment, read without a framework.

`parse` turns "auto", "none" or a device count into devices per process; `cluster` reads
how many processes a run has, and which one this is, from the variables of the backend in
use: KERAS_DISTRIBUTION_JOB_ADDRESSES, KERAS_DISTRIBUTION_NUM_PROCESSES and
KERAS_DISTRIBUTION_PROCESS_ID on JAX, TF_CONFIG on TensorFlow. Bad values fail in one line
(`UserError`) before any engine starts (`cxr.runtime.distribution.setup`).
"""

import json

from cxr.errors import UserError

JAX_ENV = (
    "KERAS_DISTRIBUTION_JOB_ADDRESSES",
    "KERAS_DISTRIBUTION_NUM_PROCESSES",
    "KERAS_DISTRIBUTION_PROCESS_ID",
)
VALUES = "'auto' (every device), 'none' (one device, no strategy) or a device count such as 2"


def parse(value) -> int | None:
    """`distribution` as devices per process: None for "auto", 0 for "none".

    Raises:
        UserError: for anything else.
    """
    text = str(value).strip().lower()
    if text == "auto":
        return None
    if text == "none":
        return 0
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise UserError(f"distribution={value!r}: use {VALUES}, e.g. --config.distribution=auto")


def cluster(backend, env) -> tuple[int, int]:
    """(processes, this process's index) from the multi-host environment; (1, 0) without.

    Raises:
        UserError: for the other backend's variables, or an incomplete or bad set.
    """
    given = [name for name in JAX_ENV if env.get(name)]
    if backend == "jax":
        if env.get("TF_CONFIG"):
            raise UserError(
                "TF_CONFIG is set, but KERAS_BACKEND=jax reads " + ", ".join(JAX_ENV) + "; "
                "unset TF_CONFIG (or run with KERAS_BACKEND=tensorflow)"
            )
        if not given:
            return 1, 0
        missing = [name for name in JAX_ENV if name not in given]
        if missing:
            raise UserError(
                f"incomplete multi-host environment: {', '.join(given)} set but not "
                f"{', '.join(missing)}; set all three on every process"
            )
        count, index = env[JAX_ENV[1]].strip(), env[JAX_ENV[2]].strip()
        if not (count.isdigit() and index.isdigit() and int(index) < int(count)):
            raise UserError(
                f"{JAX_ENV[1]}={count!r} and {JAX_ENV[2]}={index!r}: use a process count "
                "and this process's index, 0 to count - 1"
            )
        return int(count), int(index)
    if given:
        raise UserError(
            f"{given[0]} is set, but KERAS_BACKEND=tensorflow reads TF_CONFIG; unset "
            f"{', '.join(given)} (or run with KERAS_BACKEND=jax)"
        )
    return _tf_config(env.get("TF_CONFIG"))


def _tf_config(text) -> tuple[int, int]:
    """(workers, this worker's index) from TF_CONFIG (a chief, if any, is worker 0)."""
    if not text:
        return 1, 0
    fix = (
        'set TF_CONFIG to {"cluster": {"worker": ["host1:port", "host2:port"]}, '
        '"task": {"type": "worker", "index": I}} on every process'
    )
    try:
        config = json.loads(text)
        hosts = config["cluster"].get("chief", []) + config["cluster"]["worker"]
        task, index = config["task"]["type"], int(config["task"]["index"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise UserError(f"TF_CONFIG={text!r} is incomplete; {fix}") from None
    offset = {"chief": 0, "worker": len(config["cluster"].get("chief", []))}.get(task)
    if offset is None or not 0 <= offset + index < len(hosts):
        raise UserError(f"TF_CONFIG task {task!r} {index} is not in its cluster; {fix}")
    return len(hosts), offset + index
