"""cxr.runtime.speed: the "auto" rule on made-up timings, the per-machine cache, overrides,
and the probe's network."""

import json

import keras
import pytest

from cxr.errors import UserError
from cxr.runtime import keras_compat, machine, speed

# Seconds per training step, plainest first, as `probe` returns them (two rounds each).
CPU_TF = {
    "float32": [1.0, 1.3],
    "mixed_bfloat16": [1.6, 1.7],
    "float32+xla": [0.6, 2.0],  # the busy second round must not count
    "mixed_bfloat16+xla": [0.8, 0.9],
}
JAX_GPU = {"float32+xla": [1.0], "mixed_bfloat16+xla": [0.5], "mixed_float16+xla": [0.45]}


def test_auto_takes_the_fastest_setting_and_says_why():
    choice = speed.decide(CPU_TF)
    assert (choice.xla, choice.precision) == (True, "float32")
    assert "float32+xla 1.67x" in choice.why and "mixed_bfloat16 0.62x" in choice.why
    assert "\n" not in choice.why


def test_auto_keeps_the_plain_setting_unless_a_change_wins_by_the_margin():
    just_short = {"float32": [1.0], "float32+xla": [1.0 / (speed.MARGIN - 0.01)]}
    assert speed.decide(just_short).xla is False
    enough = {"float32": [1.0], "float32+xla": [1.0 / (speed.MARGIN + 0.01)]}
    assert speed.decide(enough).xla is True


def test_a_fixed_setting_is_kept_and_the_other_decided_under_it():
    off = speed.decide(CPU_TF, xla="off")
    assert (off.xla, off.precision) == (False, "float32")  # bf16 loses without XLA too
    bf16 = speed.decide(CPU_TF, precision="mixed_bfloat16")
    assert (bf16.xla, bf16.precision) == (True, "mixed_bfloat16")  # 1.0 / 0.8 = 1.25x
    assert "vs mixed_bfloat16:" in bf16.why


def test_a_fixed_setting_that_was_not_measured_decides_the_other_where_it_was():
    fp16 = speed.decide(CPU_TF, precision="mixed_float16")  # no float16 on a CPU
    assert (fp16.xla, fp16.precision) == (True, "mixed_float16")
    eager = speed.decide(JAX_GPU, xla="off")  # JAX measures with XLA only
    assert (eager.xla, eager.precision) == (False, "mixed_float16")


def test_no_xla_under_tensorflow_op_determinism():
    choice = speed.decide(CPU_TF, xla_possible=False)
    assert (choice.xla, choice.precision) == (False, "float32")
    assert "op determinism" in choice.why


def test_candidates_per_backend_and_device():
    assert speed.candidates(backend="tensorflow", gpu=False) == list(CPU_TF)
    assert len(speed.candidates(backend="tensorflow", gpu=True)) == 6
    assert speed.candidates(backend="jax", gpu=True) == list(JAX_GPU)


def test_unknown_values_are_user_errors():
    with pytest.raises(UserError, match="xla='yes'"):
        speed.choose(xla="yes")
    with pytest.raises(UserError, match="float16"):
        speed.choose(precision="float16")


@pytest.fixture
def probe_calls(monkeypatch):
    """A fake probe that returns CPU_TF and counts its calls; XLA allowed, machine quiet.

    Another test in this process may have turned TensorFlow's op determinism on.
    """
    calls = []
    monkeypatch.setattr(keras_compat, "xla_possible", lambda: True)
    monkeypatch.setattr(speed, "_load", lambda: 0.0)  # a quiet machine

    def measure(facts):
        calls.append(facts)
        return CPU_TF

    monkeypatch.setattr(speed, "_measure_in_child", measure)
    return calls


def test_the_probe_runs_once_per_machine_then_reads_the_cache(
    tmp_path, monkeypatch, probe_calls, capsys
):
    monkeypatch.setenv("CXR_CACHE", str(tmp_path))
    first = speed.choose()
    [path] = (tmp_path / "speed").glob("*.json")
    assert json.loads(path.read_text())["seconds"] == CPU_TF
    assert speed.choose() == speed.decide(CPU_TF, source=f"; cached in {path}")
    assert len(probe_calls) == 1 and (first.xla, first.precision) == (True, "float32")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("speed: probing") and "probed in" in lines[1]
    assert lines[2].startswith("speed: float32, XLA on") and "cached in" in lines[2]
    speed.choose(reprobe=True)
    assert len(probe_calls) == 2


def another_machine(facts):
    """`facts` with each fact changed, one at a time: always other values than these."""
    return [
        {**facts, "cpu": facts["cpu"] + " (another model)"},
        {**facts, "cores": facts["cores"] + 1},
        {**facts, "accelerators": [*facts["accelerators"], "another GPU"]},
        {**facts, "keras": facts["keras"] + ".another"},
    ]


def test_other_machine_facts_mean_another_cache_file(tmp_path, monkeypatch, probe_calls):
    facts = speed.machine_facts()
    assert facts["backend"] == keras.backend.backend() and facts["cpu"]
    assert facts["cores"] == machine.cores() and facts["probe"] == speed.PROBE_VERSION
    monkeypatch.setenv("CXR_CACHE", str(tmp_path))
    here = speed.cache_file(facts)
    assert here.parent == tmp_path / "speed"
    assert speed.cache_file(dict(facts)) == here  # the same facts: the same file
    for other in another_machine(facts):
        assert speed.cache_file(other) != here, other
    speed.choose()
    monkeypatch.setattr(speed, "machine_facts", lambda: another_machine(facts)[0])
    speed.choose()
    assert len(probe_calls) == 2 and len(list((tmp_path / "speed").glob("*.json"))) == 2


def test_timings_from_a_busy_machine_are_measured_again_once_it_is_quiet(
    tmp_path, monkeypatch, probe_calls
):
    monkeypatch.setenv("CXR_CACHE", str(tmp_path))
    cores = speed.machine_facts()["cores"]
    monkeypatch.setattr(speed, "_load", lambda: cores * 3.0)
    assert "while busy" in speed.choose().why
    assert "probed while busy" in speed.choose().why  # still busy: the cache serves
    monkeypatch.setattr(speed, "_load", lambda: 0.0)
    speed.choose()
    assert len(probe_calls) == 2
    speed.choose()
    assert len(probe_calls) == 2
    [path] = (tmp_path / "speed").glob("*.json")
    assert json.loads(path.read_text())["busy"] is False


def test_fixed_settings_need_no_probe(tmp_path, monkeypatch, probe_calls, capsys):
    monkeypatch.setenv("CXR_CACHE", str(tmp_path))
    choice = speed.choose(xla="off", precision="mixed_bfloat16")
    assert (choice.xla, choice.precision) == (False, "mixed_bfloat16")
    assert not probe_calls and not (tmp_path / "speed").exists()
    assert "as configured" in capsys.readouterr().out


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_xla_off_is_on_under_jax_only(backend, tmp_path, monkeypatch, probe_calls, capsys):
    monkeypatch.setenv("CXR_CACHE", str(tmp_path))
    monkeypatch.setattr(speed.keras.backend, "backend", lambda: backend)
    choice = speed.choose(xla="off", precision="float32")
    assert choice.xla is (backend == "jax") and not probe_calls
    said = capsys.readouterr().out
    assert ("means on under JAX" in said) is (backend == "jax"), said


def test_xla_on_under_op_determinism_is_a_user_error(monkeypatch):
    monkeypatch.setattr(keras_compat, "xla_possible", lambda: False)
    with pytest.raises(UserError, match="op determinism"):
        speed.choose(xla="on", precision="float32")


def test_a_failed_probe_keeps_the_defaults_and_caches_nothing(tmp_path, monkeypatch):
    import subprocess

    def fail(facts):
        raise subprocess.CalledProcessError(1, "probe")

    monkeypatch.setenv("CXR_CACHE", str(tmp_path))
    monkeypatch.setattr(speed, "_measure_in_child", fail)
    monkeypatch.setattr(keras_compat, "xla_possible", lambda: True)
    choice = speed.choose()
    assert (choice.xla, choice.precision) == (False, "float32")
    assert "probe failed" in choice.why and not list(tmp_path.glob("speed/*.json"))


@pytest.mark.large
def test_the_real_probe_measures_every_candidate():
    """The probe's own network and loop, at a small size; the global policy is restored."""
    seconds = speed.probe(gpu=False, rounds=1, size=32, batch=2)
    assert list(seconds) == speed.candidates(backend=keras.backend.backend(), gpu=False)
    assert all(len(v) == 1 and v[0] > 0 for v in seconds.values())
    assert keras.mixed_precision.global_policy().name == "float32"


def test_the_probe_trains_the_layers_cxr_models_are_built_on():
    """The probe builds from Keras (runtime is below cxr.model) the same layers up to its cut."""
    from cxr.model import classifier, layer_names

    def layers(model, cut):
        names = [layer.name for layer in model.layers]
        # Past the input, which is named apart, and the model's own preprocessing layers.
        kept = model.layers[1 : names.index(cut) + 1]
        kept = [layer for layer in kept if not layer.name.startswith(layer_names.PREPROCESS_LAYER)]
        # Keras numbers unnamed layers (zero_padding2d, zero_padding2d_1, ...) per process.
        configs = [{k: v for k, v in layer.get_config().items() if k != "name"} for layer in kept]
        return [
            (type(layer).__name__, config, layer.trainable, [w.shape for w in layer.weights])
            for layer, config in zip(kept, configs, strict=True)
        ]

    ours = classifier.build_model(image_size=64, trainable="all")
    probed = speed.network("pool2_pool", 64)
    assert layers(probed, "pool2_pool") == layers(ours, "pool2_pool")
    assert len(layers(probed, "pool2_pool")) > 50 and probed.output.shape == (None, 14)
