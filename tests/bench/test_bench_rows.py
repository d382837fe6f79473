"""cxr.bench: row 6 (the GPU epoch) on a tiny model, so its code runs without a GPU,
and row 2's data pass over a built split."""

import os

import keras
import pytest

from cxr.bench import data_rows, epoch_rows, rows
from cxr.runtime import speed


def tiny_model():
    inputs = keras.Input((8, 8, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    return keras.Model(inputs, keras.layers.Dense(14, dtype="float32")(pooled))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the bench is TensorFlow's")
def test_epoch_row_projects_one_epoch_without_a_gpu():
    choice = speed.Choice(xla=False, precision="float32", why="")
    train = epoch_rows.epoch_rate(choice, batch=4, steps=2, make_model=tiny_model, repeats=1)
    assert train["median"] > 0
    pipeline = {"median": train["median"] / 2, "min": 1.0, "max": 1.0}  # the slower one
    row = epoch_rows.epoch_row(choice, train, pipeline, batch=4)
    assert row["epoch_seconds"] == pytest.approx(epoch_rows.EPOCH_IMAGES / pipeline["median"])
    assert row["baseline"]["median"] == pytest.approx(86_524 / 45)
    assert row["meets_goal"] == (train["median"] >= 86_524 / 45)
    assert "batch 4, float32, XLA off" in row["row"]
    assert row["backbone"] == "densenet121" and "6. densenet121 fine-tuning" in row["row"]
    table = rows.markdown({"machine": rows.machine(), "rows": [row]})
    # The name holds no figure (--compare matches rows by name); the table notes the epoch.
    seconds = f"{row['epoch_seconds']:,.0f} s"
    assert f"(epoch: {seconds})" in table and seconds not in row["row"]


def test_the_bench_pipeline_row_reads_a_built_split(synthetic_builder):
    """Row 2's data pass goes through `cxr.data.datasets` as training does: every train image once."""
    result = data_rows.pipeline_rate(synthetic_builder, 64, repeats=1)
    assert 0 < result["min"] <= result["median"] <= result["max"]


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="Linux affinity")
def test_the_bench_records_the_machine_the_speed_cache_keys_on(monkeypatch):
    # An affinity mask unlike os.cpu_count(), so that a count taken elsewhere would differ.
    usable = set(range(os.cpu_count() + 1))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: usable)
    bench, facts = rows.machine(), speed.machine_facts()
    assert (bench["cpu"], bench["cores"], bench["gpus"]) == (
        facts["cpu"],
        facts["cores"],
        facts["accelerators"],
    )
    assert bench["cores"] == len(usable) and facts["keras"] == bench["keras"]


def test_row_2_states_what_the_last_batch_padding_caps():
    # 176 images in batches of 32: 5 full batches and one of 16 padded to 32.
    p = data_rows.padding(176, 32)
    assert (p["images"], p["padded_rows"]) == (176, 16)
    assert p["padding_bound"] == pytest.approx(176 / 192)
    assert "caps it at 0.917x" in p["note"]
    assert data_rows.padding(64, 32)["padded_rows"] == 0
