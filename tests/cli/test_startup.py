"""`cxr` answers before the frameworks start, and never starts them where no model is touched.

Every subcommand's `--help`, an unknown flag, a missing argument and a path that does not
exist are answered without TensorFlow, JAX or Keras in `sys.modules`; a bad path is one
stderr line naming it, exit code 2. `cxr score`, `cxr readers` and `cxr compare` run
whole on the synthetic NIH twin without them. A reader that closes the pipe early
(`cxr predict --help | head -1`) ends the command quietly, with the shell's 141.

Command lines run in fresh interpreters, as a user's `cxr` does, so that what a command
imports is seen; the many short ones share one interpreter, and each reports which
frameworks were loaded after it ran.
"""

import json
import os
import pathlib
import shlex
import subprocess
import sys

import numpy as np
import pytest

from cxr.cli.main import BROKEN_PIPE_EXIT, COMMANDS
from cxr.tracking.rundir import EvalDir, RunDir
from cxr_tfds.cxr14_subset import expert_labels, synthetic
from cxr_tfds.labels import LABELS

ROOT = pathlib.Path(__file__).resolve().parents[2]
# Runs each command line of the JSON list in argv[1] through `cxr.cli.main.main`, in this
# one interpreter; prints, as JSON, [exit code, stdout, stderr, frameworks loaded] per line.
PROBE = """
import contextlib, io, json, sys
from cxr.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main.main(argv)
        except SystemExit as e:
            code = e.code
    loaded = sorted({m.split(".")[0] for m in sys.modules} & {"tensorflow", "jax", "keras"})
    results.append([code, out.getvalue(), err.getvalue(), loaded])
print(json.dumps(results))
"""


def run_in_one_interpreter(command_lines, *, cwd=ROOT, env=None, timeout=300) -> list:
    """[exit code, stdout, stderr, frameworks loaded by then] of each command line, in order."""
    env = {**os.environ, "WANDB_MODE": "disabled", **(env or {})}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(command_lines)],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


def test_every_help_starts_no_framework():
    results = run_in_one_interpreter([[name, "--help"] for name in COMMANDS])
    for name, (code, out, err, loaded) in zip(COMMANDS, results, strict=True):
        assert code in (0, None), f"cxr {name} --help: exit {code}: {err[-500:]}"
        assert out.startswith(f"usage: cxr {name}"), out[:200]
        assert loaded == [], f"cxr {name} --help imported {loaded}"


def test_usage_errors_are_answered_before_the_frameworks_start():
    # `cxr experiment`'s first argument is the experiment's name.
    lines = [[name, *(["quickstart"] if name == "experiment" else []), "--no-such-flag"] for name in COMMANDS]  # fmt: skip
    lines += [["predict"], ["evaluate"], ["saliency"], ["dashboard"], ["score"]]
    results = run_in_one_interpreter(lines)
    for argv, (code, _, err, loaded) in zip(lines, results, strict=True):
        assert code == 2, f"cxr {' '.join(argv)}: exit {code}: {err[-500:]}"
        assert err.strip(), f"cxr {' '.join(argv)}: nothing on stderr"
        assert "Traceback" not in err, err[-1000:]
        last = err.strip().splitlines()[-1]  # argparse names a missing argument first
        assert "error" in last and ("--no-such-flag" in last or "required" in last), err[-500:]
        assert loaded == [], f"cxr {' '.join(argv)} imported {loaded}"


def test_a_path_that_does_not_exist_is_one_line_naming_it(tmp_path, synthetic_nih):
    missing = str(tmp_path / "nowhere")
    image = tmp_path / "x.png"
    image.write_bytes(b"")
    lines = {
        "evaluate": ["evaluate", "--run", missing],
        "predict --run": ["predict", str(image), "--run", missing, "--out", str(tmp_path / "o")],
        "predict image": ["predict", missing, "--run", str(tmp_path), "--out", str(tmp_path / "o")],
        "saliency": ["saliency", "--run", missing],
        "dashboard": ["dashboard", "--run", missing],
        "data": ["data", "--config=224", f"--manual_dir={missing}"],
        "score": ["score", missing, "--out", str(tmp_path / "o"), "--nih-dir", str(tmp_path)],
        "readers": [
            "readers",
            missing,
            "--out",
            str(tmp_path / "o"),
            "--nih-dir",
            str(synthetic_nih),
        ],
        "compare": ["compare", missing, missing, "--out", str(tmp_path / "o")],
    }
    results = run_in_one_interpreter(list(lines.values()))
    for case, (code, _, err, loaded) in zip(lines, results, strict=True):
        assert code == 2, f"cxr {case}: exit {code}: {err[-500:]}"
        assert len(err.strip().splitlines()) == 1, f"cxr {case}:\n{err[-1500:]}"
        assert err.startswith("error: ") and missing in err, f"cxr {case}: {err}"
        assert loaded == [], f"cxr {case} imported {loaded}"


def write_expert_predictions(nih: pathlib.Path, path: pathlib.Path) -> list[str]:
    """A predictions CSV (Image Index + the 14 labels) for the images Google's readers
    labelled in the synthetic twin at `nih`, ranking positives higher; its image ids."""
    experts = expert_labels.read_all(nih)["expert_all"]
    ids = sorted(experts.truth)
    truth = np.array([experts.truth[i].findings for i in ids], float)
    probs = np.clip(0.5 * truth + 0.6 * np.random.default_rng(0).random(truth.shape), 0, 1)
    column = {name: k for k, name in enumerate(experts.spec.findings)}
    rows = [
        [i, *(f"{probs[n, column[x]]:.4f}" if x in column else "0.5" for x in LABELS)]
        for n, i in enumerate(ids)
    ]
    path.write_text("\n".join(",".join(r) for r in [["Image Index", *LABELS], *rows]) + "\n")
    return ids


@pytest.fixture(scope="module")
def synthetic_nih(tmp_path_factory) -> pathlib.Path:
    """The synthetic NIH twin: NIH's CSVs and lists and Google's expert labels."""
    nih = tmp_path_factory.mktemp("nih")
    synthetic.write_manual_dir(nih, num_patients=80, seed=0, image_size=32)
    return nih


def test_score_readers_and_compare_run_whole_without_a_framework(synthetic_nih, tmp_path):
    write_expert_predictions(synthetic_nih, tmp_path / "preds.csv")
    nih, boot = ["--nih-dir", str(synthetic_nih)], ["--num-bootstrap", "20"]
    lines = [
        ["score", "preds.csv", "--out", "scored", "--labels", "expert_all", *nih, *boot],
        ["readers", "scored", "--out", "readers", *nih, *boot],
        ["compare", "scored", "scored", "--out", "compared", *boot],
    ]
    results = run_in_one_interpreter(lines, cwd=tmp_path)
    for argv, (code, _, err, loaded) in zip(lines, results, strict=True):
        assert code in (0, None), f"cxr {' '.join(argv)}: exit {code}: {err[-2000:]}"
        assert loaded == [], f"cxr {' '.join(argv)} imported {loaded}"
    assert (tmp_path / "scored" / EvalDir.PREDICTIONS).is_file()
    assert (tmp_path / "readers" / "readers.json").is_file()
    assert (tmp_path / "compared" / "compare.json").is_file()


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_closed_pipe_ends_the_command_quietly(name):
    # The reader closes its end before the command writes: the write meets a pipe that
    # nobody reads, as `cxr predict --help | head -1` does once head has its line.
    process = subprocess.Popen(
        [sys.executable, "-m", "cxr", name, "--help"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
        env={**os.environ, "WANDB_MODE": "disabled"},
    )  # fmt: skip
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == BROKEN_PIPE_EXIT, err[-2000:]
    assert "BrokenPipe" not in err and "Traceback" not in err, err[-2000:]


def help_examples() -> dict[str, list[str]]:
    """Each subcommand's example, as its `--help` prints it, split into arguments."""
    results = run_in_one_interpreter([[name, "--help"] for name in COMMANDS])
    examples = {}
    for name, (_, out, _, _) in zip(COMMANDS, results, strict=True):
        text = out.split("\nexample:\n")[1].strip()
        assert text.startswith(f"cxr {name} "), text
        # The placeholders of run directories: <run id> and <id> become the folder "1".
        examples[name] = shlex.split(text.replace("<run id>", "1").replace("<id>", "1"))[2:]
    return examples


def fake_run(path: pathlib.Path) -> None:
    """A run directory as `cxr.tracking.rundir` checks it: a folder with its config."""
    RunDir(path).create({"name": path.parent.name})


def write_evaluation(folder: pathlib.Path, nih: pathlib.Path, seed: int) -> None:
    """An evaluation folder (predictions.npz) of the twin's expert images: made-up labels,
    the same for every seed, and scores that rank them better than chance."""
    ids = sorted(expert_labels.read_all(nih)["expert_all"].truth)
    truth = (np.random.default_rng(0).random((len(ids), len(LABELS))) < 0.3).astype(float)
    probs = np.clip(0.4 * truth + np.random.default_rng(seed).random(truth.shape), 0, 1)
    folder.mkdir(parents=True)
    predictions = EvalDir.encode_predictions(
        image_id=ids, patient_id=[int(i[:8]) for i in ids], labels=truth, probs=probs,
        label_names=LABELS, dataset="cxr14_subset/224", split="test",
    )  # fmt: skip
    (folder / EvalDir.PREDICTIONS).write_bytes(predictions)


# Runs each example's command line through `cxr` up to its first real step, and stops
# there: the frameworks' start-up (every subcommand but type1), or type1's simulation.
# Prints "reached <name>" for each.
TO_FIRST_STEP = """
import json, sys
from cxr.cli import main
from cxr.runtime import startup
from cxr.stats import type1

class Reached(Exception):
    pass

def first_step(*args, **kwargs):
    raise Reached()

startup.start = type1.study = first_step
for name, argv in json.loads(sys.argv[1]).items():
    try:
        main.main([name, *argv])
    except Reached:
        print("reached", name)
"""


def test_every_help_example_runs(tmp_path):
    examples = help_examples()
    home = tmp_path / "home"  # `~` in an example: a home of the test's own
    synthetic.write_manual_dir(home / "cxr14", num_patients=40, seed=0, image_size=32)
    tfds_dir = tmp_path / "tensorflow_datasets"  # where `cxr data` builds without --data_dir
    env = {"HOME": str(home), "CXR14_DIR": str(home / "cxr14"), "TFDS_DATA_DIR": str(tfds_dir)}
    write_expert_predictions(home / "cxr14", tmp_path / "preds.csv")
    for name in ("a", "b"):
        write_evaluation(tmp_path / "runs" / name / "1", home / "cxr14", seed=len(name))
    # Whole: the examples that need no trained model, and cost seconds.
    whole = ["data", "score", "readers", "compare"]
    results = run_in_one_interpreter([[n, *examples[n]] for n in whole], cwd=tmp_path, env=env)
    for name, (code, _, err, _) in zip(whole, results, strict=True):
        assert code in (0, None), f"cxr {name}'s example: exit {code}: {err[-2000:]}"
    assert list((tfds_dir / "cxr14_subset" / "224").glob("*/dataset_info.json"))
    assert (tmp_path / "scores/mine" / EvalDir.PREDICTIONS).is_file()
    assert (tmp_path / "scores/mine_readers" / "readers.json").is_file()
    assert (tmp_path / "comparisons/ab" / "compare.json").is_file()
    # The rest need a trained run or take minutes: read to their first step, on run
    # directories that exist.
    for name in ("quickstart", "frozen_head"):
        fake_run(tmp_path / "runs" / name / "1")
    (tmp_path / "scans").mkdir()
    (tmp_path / "scans" / "x.png").write_bytes(b"")
    rest = {n: argv for n, argv in examples.items() if n not in whole}
    result = subprocess.run(
        [sys.executable, "-c", TO_FIRST_STEP, json.dumps(rest)],
        capture_output=True, text=True, cwd=tmp_path, timeout=300, env={**os.environ, **env},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split("\n")[:-1] == [f"reached {n}" for n in rest], result.stdout


def test_data_answers_help_and_unknown_flags_without_tfds():
    # `cxr data` is TFDS's build command; its help and flag names come from a kept copy
    # of TFDS's parser text (cxr.cli.data_help, checked in tests/cli/test_data_help.py).
    probe = PROBE.replace('{"tensorflow", "jax", "keras"}', '{"tensorflow_datasets", "pydicom"}')
    result = subprocess.run(
        [sys.executable, "-c", probe, json.dumps([["data", "--help"], ["data", "--nope"]])],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    (help_code, out, _, loaded), (error_code, _, err, loaded_too) = json.loads(result.stdout)
    assert help_code == 0 and out.startswith("usage: cxr data") and "--manual_dir" in out
    assert error_code == 2 and err.strip().endswith("unrecognized arguments: --nope")
    assert loaded == loaded_too == [], loaded + loaded_too
