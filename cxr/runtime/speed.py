"""Mixed precision and XLA: "auto" picks what is faster on the machine at hand.

    choice = speed.choose(xla="auto", precision="auto")  # prints one line: what and why
    keras.mixed_precision.set_global_policy(choice.precision)  # before building the model
    model.compile(..., jit_compile=choice.xla)

Neither setting wins everywhere, and not by device kind either: on two 2-core CPUs
`make bench` measured XLA training at 0.62x on an Intel Xeon and 1.67x on an AMD
EPYC. So "auto" measures: a probe times training steps of DenseNet121's own first
layers at 224 px (cut after the first transition on a CPU, batch 8; after the second
on a GPU, batch 64) under each candidate setting, in interleaved rounds, in a child
process (no policy, seed or memory leaks into the run). Its timings are cached per
machine (CPU model, cores, accelerators, backend, versions) in
$CXR_CACHE/speed/ (default ~/.cache/cxr/speed/), so it runs once per machine, in
about a minute on 2 CPU cores. Timings taken while other work held over half the
cores are used, but measured again by the first run that finds the machine quiet.
`python -m cxr.runtime.speed` prints the choice; `--probe` measures again at once. Call
`choose` before anything runs on the GPU: the probe needs GPU memory of its own.

JAX always compiles with XLA: without it Keras runs JAX op by op, so `xla="off"` there
is taken as "on" (the printed line says so). Only TensorFlow has a compiled mode
without XLA (its graphs).

The rule, deterministic given the timings: among the measured settings that the
overrides allow, the fastest is chosen if it beats the plainest one (float32, XLA
off where that was measured) by at least `MARGIN`, else the plainest. Each step's
time is its fastest round: other processes only ever add time.
"""

import argparse
import dataclasses
import hashlib
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import keras

from cxr.errors import UserError
from cxr.runtime import keras_compat, machine

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
XLA = ("on", "off")
# A change must be this much faster to be chosen: smaller gaps are within the
# probe's noise, and XLA costs compile time up front.
MARGIN = 1.1
# Keras's jit_compile=False under JAX is op-by-op execution, a debugging mode, not a way
# to train (measured on finetune:smoke, 2 CPU cores: fine-tuning 3x slower, same losses).
JAX_OFF_NOTE = "; xla=off means on under JAX: it compiles with XLA or runs op by op"
PROBE_VERSION = 1  # bump when the probe measures differently: old caches are ignored


@dataclasses.dataclass(frozen=True)
class Choice:
    """The resolved settings.

    Attributes:
        xla: `jit_compile=` for `model.compile`.
        precision: the Keras dtype policy to set before building the model.
        why: one line: what was chosen and why (the measured ratios).
    """

    xla: bool
    precision: str
    why: str


def machine_facts() -> dict:
    """What a probe's timings depend on (`cxr.runtime.machine.facts`); any change means a new probe."""
    return {**machine.facts(), "probe": PROBE_VERSION}


def cache_file(facts: dict, cache_dir=None) -> pathlib.Path:
    """Where the timings for `facts` are cached."""
    root = cache_dir or pathlib.Path(os.environ.get("CXR_CACHE", "~/.cache/cxr")) / "speed"
    digest = hashlib.sha1(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:12]
    return pathlib.Path(root).expanduser() / f"{facts['backend']}-{digest}.json"


def candidates(*, backend: str, gpu: bool) -> list[str]:
    """The settings a probe measures, plainest first, e.g. "float32", "mixed_bfloat16+xla".

    JAX always compiles with XLA (Keras's `jit_compile=False` there means op-by-op
    eager execution), so only TensorFlow measures both. float16 has no fast CPU kernels.
    """
    precisions = PRECISIONS if gpu else PRECISIONS[:2]
    xlas = ("", "+xla") if backend == "tensorflow" else ("+xla",)
    return [p + x for x in xlas for p in precisions]


def check(xla: str, precision: str) -> None:
    """Raises a `UserError` for a value `choose` does not take."""
    if xla not in ("auto", *XLA):
        raise UserError(f"xla={xla!r}: use 'auto', 'on' or 'off'")
    if precision not in ("auto", *PRECISIONS):
        raise UserError(f"precision={precision!r}: use 'auto' or one of {', '.join(PRECISIONS)}")


def decide(seconds: dict, *, xla="auto", precision="auto", xla_possible=True, source=""):
    """The choice from measured seconds per training step (`probe`'s keys and times).

    Args:
        seconds: {setting: [seconds of each round]}, plainest setting first.
        xla, precision: "auto" or a fixed value; the fixed one is kept.
        xla_possible: False where Keras refuses XLA (TensorFlow op determinism on).
        source: where the timings come from, for the line printed.

    Returns:
        A `Choice`.
    """
    best = {k: min(v) for k, v in seconds.items()}

    def allowed(setting, strict=True):
        p, x = setting.removesuffix("+xla"), setting.endswith("+xla")
        ok_x = xla == "auto" or x == (xla == "on") or not strict
        ok_p = precision == "auto" or p == precision or (not strict and p == "float32")
        return ok_x and ok_p and (xla_possible or not x)

    # A fixed value that was not measured (float16 on a CPU, XLA off on JAX) leaves the
    # other setting to be decided where it was: at float32, or with XLA as measured.
    options = [s for s in best if allowed(s)] or [s for s in best if allowed(s, strict=False)]
    plain = options[0]
    fastest = min(options, key=best.get)
    chosen = fastest if best[plain] / best[fastest] >= MARGIN else plain
    ratios = ", ".join(f"{s} {best[plain] / best[s]:.2f}x" for s in options[1:]) or "nothing"
    xla_on = chosen.endswith("+xla") if xla == "auto" else xla == "on"
    if not xla_possible and xla == "auto":
        ratios += "; XLA off: TensorFlow op determinism is on, and Keras refuses XLA with it"
    choice_precision = chosen.removesuffix("+xla") if precision == "auto" else precision
    why = (
        f"speed: {choice_precision}, XLA {'on' if xla_on else 'off'} (xla={xla}, "
        f"precision={precision}; training step vs {plain}: {ratios}; a change needs "
        f">= {MARGIN:.2f}x{source})"
    )
    return Choice(xla=xla_on, precision=choice_precision, why=why)


def choose(xla="auto", precision="auto", *, cache_dir=None, measure=None, reprobe=False):
    """Resolves "auto" settings from the cached probe (probing first if none); prints why.

    Args:
        xla: "auto", "on" or "off".
        precision: "auto" or a Keras policy: "float32", "mixed_bfloat16", "mixed_float16".
        cache_dir: where timings are cached; None: $CXR_CACHE/speed.
        measure: `(facts) -> seconds`, for tests; None runs `probe` in a child process.
        reprobe: measure again even if the timings are cached.

    Returns:
        A `Choice`.
    """
    check(xla, precision)
    jax_off = xla == "off" and keras.backend.backend() == "jax"
    if jax_off:  # see the module docstring
        xla = "on"
    if xla == "on" and not keras_compat.xla_possible():
        raise UserError("xla='on': TensorFlow op determinism is on, and Keras refuses XLA with it")
    if xla != "auto" and precision != "auto":
        choice = Choice(xla == "on", precision, f"speed: {precision}, XLA {xla} (as configured)")
    else:
        facts = machine_facts()
        seconds, source = _timings(facts, cache_file(facts, cache_dir), measure, reprobe)
        choice = decide(
            seconds,
            xla=xla,
            precision=precision,
            xla_possible=keras_compat.xla_possible(),
            source=source,
        )
    if jax_off:
        choice = dataclasses.replace(choice, why=choice.why + JAX_OFF_NOTE)
    print(choice.why, flush=True)
    return choice


def _timings(facts, path, measure, reprobe):
    """(seconds, where they come from): cached, or probed now and cached.

    Timings taken on a busy machine are used, but measured again by the first run
    that finds the machine quiet.
    """
    cached = None if reprobe or not path.exists() else json.loads(path.read_text())
    busy = _load() > 0.5 * facts["cores"]  # others hold half the cores: timings mislead
    if cached and not (cached["busy"] and not busy):
        note = f"; probed while busy (load {cached['load']:.1f})" if cached["busy"] else ""
        return cached["seconds"], f"; cached in {path}{note}"
    print(f"speed: probing mixed precision and XLA on this machine, once ({path})", flush=True)
    start, load = time.perf_counter(), _load()
    try:
        seconds = (measure or _measure_in_child)(facts)
    except subprocess.CalledProcessError as e:  # a failed probe must not stop the run
        return {"float32": [1.0]}, f"; the probe failed (exit {e.returncode}), nothing measured"
    content = {"facts": facts, "date": time.strftime("%Y-%m-%d"), "load": load, "busy": busy}
    _write_atomic(path, {**content, "seconds": seconds})
    note = f" while busy (load {load:.1f}; measured again when quiet)" if busy else ""
    return seconds, f"; probed in {time.perf_counter() - start:.0f} s{note}, cached in {path}"


def _load() -> float:
    """The 1-minute load average (0 where the OS has none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0


def _write_atomic(path: pathlib.Path, content: dict) -> None:
    """Writes JSON so that a concurrent reader sees the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as f:
        json.dump(content, f, indent=2)
    os.replace(f.name, path)


def _measure_in_child(facts: dict) -> dict:
    """Runs `probe` in a fresh process of the same backend; returns its timings."""
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "seconds.json"
        env = {
            **os.environ,
            "KERAS_BACKEND": facts["backend"],
            # The parent may hold GPU memory already: take only what the probe needs.
            "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
            "TF_FORCE_GPU_ALLOW_GROWTH": "true",
        }
        cmd = [sys.executable, "-m", "cxr.runtime.speed", "--measure_to", str(out)]
        subprocess.run(cmd, env=env, check=True)
        return json.loads(out.read_text())


def network(cut: str, size: int):
    """DenseNet121's layers up to layer `cut`, pooled, then 14 float32 logits; all trainable.

    The layers come from `keras.applications.DenseNet121`, randomly initialised: the
    same ones `cxr.model.backbones.densenet` builds DenseNet121 on, taken from Keras itself because
    the runtime layer sits below the model layer.

    Args:
        cut: the last DenseNet layer kept, e.g. "pool2_pool" (the first transition).
        size: image side.
    """
    full = keras.applications.DenseNet121(
        include_top=False, weights=None, input_shape=(size, size, 3)
    )
    pooled = keras.layers.GlobalAveragePooling2D()(full.get_layer(cut).output)
    return keras.Model(full.input, keras.layers.Dense(14, dtype="float32")(pooled))


def probe(*, gpu: bool, rounds=None, size=224, batch=None) -> dict:
    """Seconds per training step of each candidate setting, in interleaved rounds.

    The network (`network`) is DenseNet121's own layers up to a transition (the first
    on a CPU, to stay within a minute; the second on a GPU, at a batch that fills it),
    then a float32 logits layer, all trainable, Adam, BCE on logits.

    Args:
        gpu: probe the GPU candidates and sizes.
        rounds: timed rounds after a warm-up; None: 5 on a GPU, 3 on a CPU.
        size: image side.
        batch: images per step; None: 64 on a GPU, 8 on a CPU.

    Returns:
        {setting: [seconds per step, one per round]}, plainest setting first.
    """
    import numpy as np

    cut, steps = ("pool3_pool", 10) if gpu else ("pool2_pool", 1)
    batch, rounds = batch or (64 if gpu else 8), rounds or (5 if gpu else 3)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, size, size, 3)).astype("float32")
    y = (rng.random((batch, 14)) < 0.1).astype("float32")
    nets = {}
    saved = keras.mixed_precision.global_policy()
    try:
        for setting in candidates(backend=keras.backend.backend(), gpu=gpu):
            keras.mixed_precision.set_global_policy(setting.removesuffix("+xla"))
            net = network(cut, size)
            net.compile(
                keras.optimizers.Adam(1e-4),
                keras.losses.BinaryCrossentropy(from_logits=True),
                jit_compile=setting.endswith("+xla"),
            )
            net.train_on_batch(x, y)  # traces and compiles
            nets[setting] = net
    finally:
        keras.mixed_precision.set_global_policy(saved)
    seconds = {setting: [] for setting in nets}
    for _ in range(rounds):  # interleaved: a busy spell slows every setting alike
        for setting, net in nets.items():
            start = time.perf_counter()
            for _ in range(steps):
                net.train_on_batch(x, y)  # returns the loss as a number: synchronised
            seconds[setting].append((time.perf_counter() - start) / steps)
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--xla", default="auto", choices=("auto", *XLA))
    parser.add_argument("--precision", default="auto", choices=("auto", *PRECISIONS))
    parser.add_argument("--probe", action="store_true", help="measure again")
    parser.add_argument("--measure_to", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
    if args.measure_to:
        seconds = probe(gpu=bool(machine.accelerators()))
        pathlib.Path(args.measure_to).write_text(json.dumps(seconds))
        return
    choose(args.xla, args.precision, reprobe=args.probe)


if __name__ == "__main__":
    main()
