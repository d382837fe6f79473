"""`cxr export`'s refusals: one line each, before anything is written or loaded.

The bundle itself (loads without cxr, predicts as the run, the card's numbers) is
checked on the quickstart run in tests/end_to_end/test_experiments.py.
"""

import json
import subprocess
import sys

import pytest

from cxr.errors import UserError
from cxr.inference import export
from cxr.tracking.rundir import RunDir


@pytest.fixture
def run(tmp_path):
    """A run directory with a config and nothing else."""
    return RunDir(tmp_path / "runs" / "x" / "1").create({"name": "x", "data": {}})


def test_an_out_folder_with_files_is_refused_and_left_as_it_was(run, tmp_path):
    out = tmp_path / "bundle"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    with pytest.raises(UserError, match=f"--out {out} exists and is not an empty folder"):
        export.export(run.path, out)
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


def test_a_run_not_evaluated_is_refused_before_the_folder_is_made(run, tmp_path):
    out = tmp_path / "bundle"
    with pytest.raises(UserError, match="holds no metrics.json; evaluate the run first"):
        export.export(run.path, out)
    assert not out.exists()


def test_not_a_run_is_one_line_before_any_framework_starts(tmp_path):
    """`cxr export` reads its command line first (cxr.cli.arguments), so the error comes
    without TensorFlow: the child process never imports it."""
    code = (
        "import sys; from cxr.cli.main import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
        "print(json.dumps([code, 'tensorflow' in sys.modules]))"
    )
    args = [sys.executable, "-c", "import json\n" + code, "export", str(tmp_path), "--out", "b"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert json.loads(done.stdout.splitlines()[-1]) == [2, False]
    assert done.stderr.strip().count("\n") == 0
    assert f"{tmp_path} is not a run directory" in done.stderr
