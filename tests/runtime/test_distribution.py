"""Data-parallel training (`cxr.runtime.distribution`): bad settings fail in one line before any
side effect, and the pure parts (values, environments, feeds, padded prediction). The runs
on 2 devices and on 2 processes are in tests/end_to_end/test_multi_device.py."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from cxr.errors import UserError
from cxr.runtime import cluster_env, distribution
from cxr.train import feature_cache

# --- Settings: pure functions, no engine started ---------------------------------------


@pytest.mark.parametrize("value, expected", [("auto", None), ("none", 0), (" 2 ", 2), (1, 1)])
def test_distribution_values(value, expected):
    assert cluster_env.parse(value) == expected


@pytest.mark.parametrize("value", ["gpu", "0", "-1", "2.5", ""])
def test_unknown_distribution_names_the_value_and_the_fix(value):
    with pytest.raises(
        UserError, match=f"distribution={value!r}: use 'auto'.*--config.distribution"
    ):
        cluster_env.parse(value)


JAX_ENV = dict(zip(cluster_env.JAX_ENV, ["10.0.0.1:1234", "2", "1"], strict=True))
TF_CONFIG = {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}


@pytest.mark.parametrize(
    "backend, env, expected",
    [
        ("jax", {}, (1, 0)),
        ("tensorflow", {}, (1, 0)),
        ("jax", JAX_ENV, (2, 1)),
        ("tensorflow", {"TF_CONFIG": json.dumps(TF_CONFIG)}, (2, 1)),
        # A chief counts as worker 0, the workers after it.
        (
            "tensorflow",
            {"TF_CONFIG": '{"cluster": {"chief": ["a:1"], "worker": ["b:2", "c:3"]}, '
                          '"task": {"type": "worker", "index": 1}}'},
            (3, 2),
        ),
    ],
)  # fmt: skip
def test_cluster_from_the_environment(backend, env, expected):
    assert cluster_env.cluster(backend, env) == expected


@pytest.mark.parametrize(
    "backend, env, expected",
    [
        ("jax", {cluster_env.JAX_ENV[1]: "2"}, "incomplete multi-host environment: "
         "KERAS_DISTRIBUTION_NUM_PROCESSES set but not KERAS_DISTRIBUTION_JOB_ADDRESSES, "
         "KERAS_DISTRIBUTION_PROCESS_ID"),
        ("jax", {**JAX_ENV, cluster_env.JAX_ENV[2]: "2"}, "PROCESS_ID='2'"),
        ("jax", {"TF_CONFIG": "{}"}, "unset TF_CONFIG"),
        ("tensorflow", JAX_ENV, "KERAS_DISTRIBUTION_JOB_ADDRESSES is set, but"),
        ("tensorflow", {"TF_CONFIG": '{"cluster": {}}'}, "is incomplete; set TF_CONFIG to"),
        ("tensorflow", {"TF_CONFIG": "workers"}, "is incomplete"),
        ("tensorflow", {"TF_CONFIG": json.dumps({**TF_CONFIG, "task": {"type": "worker",
                                                                       "index": 2}})},
         "'worker' 2 is not in its cluster"),
    ],
)  # fmt: skip
def test_bad_multi_host_environments_say_what_to_set(backend, env, expected):
    with pytest.raises(UserError) as error:
        cluster_env.cluster(backend, env)
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_a_batch_the_devices_cannot_split_names_the_fix():
    with pytest.raises(UserError) as error:
        distribution.Setup("jax", devices=3).check_batch("data.batch_size", 16)
    assert str(error.value) == (
        "data.batch_size=16 cannot be split evenly over 3 devices; use a multiple of 3, "
        "e.g. --config.data.batch_size=15"
    )
    distribution.Setup("jax", devices=4).check_batch("train.head_batch_size", 256)


def test_each_process_feeds_its_share():
    one = distribution.Setup("tensorflow", devices=2, local_devices=2)
    assert one.feed(32) == distribution.Feed(1, 0, 32, 2) == one.array_feed(32)
    jax = distribution.Setup("jax", devices=4, local_devices=2, processes=2, process=1)
    assert jax.feed(32) == distribution.Feed(2, 1, 16, 2) == jax.array_feed(32)
    tf = distribution.Setup("tensorflow", devices=4, local_devices=2, processes=2, process=1)
    assert tf.feed(32) == distribution.Feed(2, 1, 16, 16)  # whole batches, cut per replica
    assert tf.array_feed(32) == distribution.Feed(1, 0, 32, 4)  # tf.distribute cuts these


def test_shuffled_arrays_shard_rows_and_keep_only_batches_the_devices_split():
    x = np.arange(23)[:, None]
    plain = feature_cache.ShuffledArrays(x, x, 8, seed=3, first_epoch=1)
    order = np.random.default_rng([3, 1]).permutation(23)  # unchanged on one device
    assert np.array_equal(np.concatenate([plain[i][0] for i in range(len(plain))])[:, 0], order)
    assert len(feature_cache.ShuffledArrays(x, x, 8, multiple=2)) == 2  # 7 rows left: dropped
    parts = [feature_cache.ShuffledArrays(x, x, 4, shard=(2, i)) for i in (0, 1)]
    rows = [np.concatenate([p[i][0] for i in range(len(p))])[:, 0] for p in parts]
    assert [len(p) for p in parts] == [3, 3]  # 11 rows each: 4, 4, 3
    assert sorted(np.concatenate(rows)) == list(range(22))  # the odd 23rd row dropped
    assert len(feature_cache.ShuffledArrays(x, x, 4, shard=(2, 0), multiple=2)) == 2


def test_prediction_pads_and_unpads_every_row_once_in_order():
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    x = np.random.default_rng(0).normal(size=(13, 3)).astype(np.float32)
    expected = keras.ops.convert_to_numpy(model(x))
    # Batches of 8 instead of 13 rows may get another float32 matmul kernel: each output
    # sums 3 products of order 1, so rounding stays below 3 * eps ~ 4e-7 on any x86 CPU;
    # a row scored twice, dropped or shifted is off by order 1.
    tolerance = dict(rtol=0, atol=1e-6)
    np.testing.assert_allclose(distribution.predict(model, x, 8), expected, **tolerance)
    batches = [(x[:8], None), (x[8:], None)]  # as cxr.data.datasets.batches yields them
    np.testing.assert_allclose(distribution.predict(model, batches, 8), expected, **tolerance)
    assert distribution.predict(model, x[:0], 8).shape == (0, 2)


# --- Settings through the entry point: one line, nothing written -------------------------


def run_module(tmp_path, *args, env=None):
    runs = tmp_path / "runs"
    environment = {**os.environ, "WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path), **(env or {})}
    out = subprocess.run(
        [sys.executable, "-m", "cxr", "experiment", "frozen_head:smoke", f"--config.runs_dir={runs}",
         *args],
        env=environment, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    return out, runs


@pytest.mark.parametrize(
    "args, env, expected",
    [
        (["--config.distribution=gpus"], {}, "distribution='gpus': use 'auto'"),
        (["--config.data.batch_size=15"], {"CXR_VIRTUAL_CPUS": "2"},
         "data.batch_size=15 cannot be split evenly over 2 devices"),
        ([], {"CXR_VIRTUAL_CPUS": "two"}, "CXR_VIRTUAL_CPUS='two'"),
        ([], {"KERAS_BACKEND": "jax", "KERAS_DISTRIBUTION_PROCESS_ID": "0"},
         "incomplete multi-host environment"),
    ],
)  # fmt: skip
def test_bad_settings_fail_in_one_line_before_any_side_effect(tmp_path, args, env, expected):
    out, runs = run_module(tmp_path, *args, env=env)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1, out.stdout[-2000:] + out.stderr[-2000:]
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]
    assert not runs.exists() and not (tmp_path / "wandb").exists()
