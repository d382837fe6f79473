"""`cxr bench --only profile` and `--only gpu` run at the smallest scale on the tiny
network, and write what they say: every stage of each section, each row's arithmetic
recomputed here from its own figures, and the provenance. The figures at this scale are
not measurements; timing goals belong to `make bench`, not to tests.
"""

import json
import re

import keras
import pytest

from cxr.bench import rows
from cxr.runtime import speed

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="the bench is TensorFlow's"
)
SECTIONS = {"predict": 10, "train": 9, "build": 8}  # stages per section, as documented


@pytest.fixture
def fixed_choice(monkeypatch):
    # The speed probe is cxr.runtime.speed's own subject (a minute on 2 cores): fixed here.
    fixed = speed.Choice(xla=False, precision="float32", why="fixed by the test")
    monkeypatch.setattr(speed, "choose", lambda *args, **kwargs: fixed)


def median(r):
    return r["figure"]["median"]


def test_the_profile_writes_every_stage_with_its_arithmetic(tmp_path, fixed_choice):
    out = tmp_path / "profile.json"
    argv = ["--only", "profile", "--scale", "0.01", "--backbone", "tiny", "--out", str(out)]
    rows.main(argv)
    results = json.loads(out.read_text())
    assert results["provenance"]["command"].endswith(" ".join(argv))
    assert results["backbone"] == "tiny" and set(results["seconds"]) == set(SECTIONS)
    assert results["total_seconds"] >= sum(results["seconds"].values())
    by_section = {s: [r for r in results["rows"] if r["row"].startswith(f"profile {s}")] for s in SECTIONS}  # fmt: skip
    assert {s: len(v) for s, v in by_section.items()} == SECTIONS
    assert len(results["rows"]) == sum(SECTIONS.values())
    for r in results["rows"]:
        assert r["ms_per_image"] == pytest.approx(1000 / median(r))
        assert r["ratio"] == pytest.approx(median(r) / r["baseline"]["median"])
        assert r["goal"] is None and r["meets_goal"] is None
    predict, train, build = by_section.values()
    forward = predict[0]
    assert "forward (tf.function" in forward["row"] and forward["ratio"] == pytest.approx(1)
    # The padding: ceil(n / 32) calls of 32 for the pass's n images (n as the section names it).
    n = int(re.match(r"profile predict \((\d+) images\)", forward["row"]).group(1))
    calls = -(-n // 32)
    assert f"{calls} calls of 32 for {n} images" in predict[1]["row"]
    assert median(predict[1]) == pytest.approx(median(forward) * n / (calls * 32))
    # Training's baseline is its own first stage, the inference forward at batch 32.
    assert "batch 32" in train[0]["row"] and all(r["baseline"] == train[0]["figure"] for r in train)
    # No overlap: the seconds per image of predict_on_batch, the host and the pipeline add up.
    parts = sum(1 / median(predict[i]) for i in (2, 3, 5))
    assert "parts one after the other" in predict[8]["row"]
    assert median(predict[8]) == pytest.approx(1 / parts)
    # A long split's rate: end-to-end's seconds per image less the fixed cost's.
    end_to_end, fixed = 1 / median(predict[7]), 1 / median(predict[6])
    assert "end-to-end predict" in predict[7]["row"] and "fixed cost" in predict[6]["row"]
    assert 1 / median(predict[9]) == pytest.approx(max(end_to_end - fixed, 1e-9))
    # The build's rest is the single-worker build less its measured parts, and Amdahl's
    # bound swaps the per-image part's single-thread time for its parallel time.
    seconds = [1 / median(r) for r in build]  # per image
    csv, read, one, parallel, whole = seconds[:5]
    assert "whole build, 1 worker" in build[4]["row"] and build[4]["ratio"] == pytest.approx(1)
    assert seconds[6] == pytest.approx(max(whole - csv - read - one, 0), abs=1e-6)
    assert seconds[7] == pytest.approx(csv + read + seconds[6] + parallel)


def test_only_gpu_runs_the_accelerator_rows_alone(tmp_path, fixed_choice, sample_dir):
    out = tmp_path / "results_gpu.json"
    argv = ["--only", "gpu", "--scale", "0.01", "--backbone", "tiny", "--backbones", "none"]
    argv += ["--epoch_row", "--epoch_backbones", "tiny", "--out", str(out)]
    rows.main([*argv, "--sample_dir", str(sample_dir)])
    results = json.loads(out.read_text())
    groups = sorted({int(r["row"].split(".")[0]) for r in results["rows"]})
    assert groups == [1, 2, 3, 4, 6, 8]  # 5, 7 and 10 run on the host alone; 9: none asked
    epoch = [r for r in results["rows"] if r["row"].startswith("6. ")]
    assert [r["backbone"] for r in epoch] == ["tiny"] and "6. tiny fine-tuning" in epoch[0]["row"]
    assert epoch[0]["epoch_seconds"] == pytest.approx(
        86_524 / min(median(epoch[0]), epoch[0]["pipeline"]["median"])
    )
    assert results["provenance"]["machine"]["cores"] >= 1 and results["total_seconds"] > 0
