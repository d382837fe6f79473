"""`make bench` end to end: every row runs, at the smallest scale on the tiny backbone, and
the results file carries its own provenance; `cxr bench-scale`'s too.

The rows' figures at this scale are not measurements (one repeat on a handful of
images); what is checked is that each row runs and is written whole, so that a crash in
any row (as row 5's `StopIteration` on the synthetic twin's renamed folder) fails here.
"""

import datetime
import hashlib
import json
import pathlib
import shlex
import subprocess
import sys

import keras
import numpy as np
import pytest

from cxr.bench import rows, scale, startup_rows
from cxr.runtime import machine, speed

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The tiny backbone's parameters, counted by hand from cxr/model/backbones/tiny.py: five
# 3x3 convolutions without bias (3->8 stem, 8->8, 8->16, 16->32, 32->64), a batch norm
# of 4 weights per channel after each, and the 64->14 logits with their bias.
TINY_PARAMETERS = (
    9 * (3 * 8 + 8 * 8 + 8 * 16 + 16 * 32 + 32 * 64) + 4 * (8 + 8 + 16 + 32 + 64) + 64 * 14 + 14
)
TINY_GRID = 224 // 2**5  # five stride-2 convolutions


def committed_bench_files():
    """{path: sha256} of the repository's bench/ folder, which a test must never write."""
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (ROOT / "bench").glob("*")}


def git(*args):
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True).stdout


def check_provenance(p, argv):
    assert p["command"] == " ".join([sys.argv[0], *map(shlex.quote, argv)])
    # Others may commit while the bench runs: its commit is HEAD's or an ancestor of it.
    head = git("rev-parse", "HEAD").strip()
    assert len(p["commit"]) == 40 and git("merge-base", p["commit"], head).strip() == p["commit"]
    assert p["dirty"] is bool(p["changed"]) and all(isinstance(f, str) for f in p["changed"])
    assert datetime.datetime.strptime(p["date"], "%Y-%m-%dT%H:%M:%S%z").date() == (
        datetime.date.today()
    )
    assert p["machine"] == json.loads(json.dumps(machine.facts()))
    assert p["packages"]["numpy"] == np.__version__
    assert p["packages"]["keras"] == keras.__version__


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the bench is TensorFlow's")
def test_every_row_of_make_bench_runs_at_the_smallest_scale(sample_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")  # row 7 sets it: restored after the test
    # The speed probe is cxr.runtime.speed's own subject (a minute on 2 cores): fixed here.
    fixed = speed.Choice(xla=False, precision="float32", why="fixed by the test")
    monkeypatch.setattr(speed, "choose", lambda *args, **kwargs: fixed)
    before = committed_bench_files()
    out = tmp_path / "results.json"
    argv = ["--scale", "0.01", "--backbone", "tiny", "--backbones", "tiny", "--epoch_row"]
    argv += ["--sample_dir", str(sample_dir), "--out", str(out)]
    rows.main(argv)

    results = json.loads(out.read_text())
    assert committed_bench_files() == before
    names = [r["row"] for r in results["rows"]]
    assert sorted({int(n.split(".")[0]) for n in names}) == list(range(1, 11))
    assert sum(n.startswith("5. build of the real sample") for n in names) == 1
    assert sum(n.startswith("7. ") for n in names) == 2
    for r in results["rows"]:
        assert {"row", "figure", "baseline", "ratio", "unit", "goal", "meets_goal"} <= set(r)
        assert r["ratio"] == pytest.approx(r["figure"]["median"] / r["baseline"]["median"])
        assert r["meets_goal"] == (None if r["goal"] is None else r["ratio"] >= r["goal"])
    goals = {
        n.split(":")[0].split(" (")[0]: r["goal"]
        for n, r in zip(names, results["rows"], strict=True)
    }
    assert goals["4. training"] == goals["9. tiny training"] == 0.30
    assert all(r["goal"] == 1.8 for r in results["rows"] if r["row"].startswith("5. "))
    tiny = [r for r in results["rows"] if r["row"].startswith("9. ")]
    assert len(tiny) == 2 and {r["backbone"] for r in tiny} == {"tiny"}
    assert {(r["parameters"], r["gradcam_grid"]) for r in tiny} == {(TINY_PARAMETERS, TINY_GRID)}
    assert tiny[1]["baseline"] == tiny[0]["figure"]  # training against its own forward
    cold = [r for r in results["rows"] if r["row"].startswith("10. ")]
    assert len(cold) == 2 and all(r["goal"] == 1 for r in cold)  # --help and cold score
    assert set(cold[0]["per_command"]) == set(startup_rows.CHECK_COMMANDS)
    slowest = max(
        (s, f"cxr {n} {'--help' if k == 'help' else startup_rows.ERROR_FLAG}")
        for n, kinds in cold[0]["per_command"].items()
        for k, s in kinds.items()
    )
    assert cold[0]["slowest"] == slowest[1]
    assert cold[0]["ratio"] == pytest.approx(startup_rows.HELP_GOAL_SECONDS / slowest[0])
    check_provenance(results["provenance"], argv)
    assert results["settings"]["why"] == "fixed by the test"
    assert set(results["seconds"]) >= {"5. dataset build", "9. tiny", "10. cold start"}
    print(results["seconds"])


def test_the_scale_bench_writes_its_provenance(tmp_path, monkeypatch):
    sizes = [
        {
            "n": n,
            "data": {"boxes": 0, "write_seconds": 0.1},
            "splits": {"train": n},
            "stages": {"build": {"seconds": n / 100, "peak_mb": 100.0}},
        }
        for n in (100, 200)
    ]
    # The stages run in child processes (tests/bench/test_bench_scale.py); here only the file.
    monkeypatch.setattr(scale, "measure_sizes", lambda *args, **kwargs: ({"peak_mb": 90}, sizes))
    out = tmp_path / "scale.json"
    argv = ["--sizes", "100,200", "--stages", "build", "--out", str(out), "--sample-dir", "none"]
    scale.main(argv)
    results = json.loads(out.read_text())
    check_provenance(results["provenance"], argv)
    assert [s["n"] for s in results["sizes"]] == [100, 200]


def test_only_backbones_writes_row_9_with_its_reference_and_provenance(tmp_path, monkeypatch):
    fixed = speed.Choice(xla=False, precision="float32", why="fixed by the test")
    monkeypatch.setattr(speed, "choose", lambda *args, **kwargs: fixed)
    out = tmp_path / "backbones.json"
    argv = ["--only", "backbones", "--backbones", "tiny", "--backbone", "tiny"]
    rows.main([*argv, "--scale", "0.01", "--out", str(out)])
    results = json.loads(out.read_text())
    assert results["provenance"]["command"] and results["machine"]["cores"] >= 1
    assert results["reference"]["backbone"] == "tiny"
    forward, train = results["rows"]
    assert forward["backbone"] == train["backbone"] == "tiny"
    # Training against its own forward rate, judged by the 0.30 goal.
    assert train["ratio"] == pytest.approx(train["figure"]["median"] / forward["figure"]["median"])
    assert train["meets_goal"] == (train["ratio"] >= train["goal"] == 0.30)
