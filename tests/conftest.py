"""Shared fixtures: the real NIH sample and datasets built once per test session."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Tests mirror cxr's subpackages, one folder each; a few share helpers across folders
# (`from test_tracking import ...`), so each folder is importable whatever runs first.
for _folder in sorted(p for p in pathlib.Path(__file__).parent.iterdir() if p.is_dir()):
    if not _folder.name.startswith((".", "_")):
        sys.path.insert(0, str(_folder))
DUMMY_DIR = ROOT / "cxr_tfds" / "cxr14_subset" / "dummy_data"


def _sample_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("CXR14_SAMPLE_DIR", ROOT.parent / "shared" / "cxr14"))


@pytest.fixture(scope="session")
def sample_dir() -> pathlib.Path:
    """The real NIH files (../shared/cxr14, or $CXR14_SAMPLE_DIR).

    In CI their absence is a failure, not a skip: the real-data tests are the point.
    """
    path = _sample_dir()
    if not (path / "Data_Entry_2017_v2020.csv").exists():
        message = f"real NIH sample not found at {path}; set CXR14_SAMPLE_DIR"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> pathlib.Path:
    """One TFDS data dir per session, so each config is built once."""
    return tmp_path_factory.mktemp("tensorflow_datasets")


@pytest.fixture(scope="session")
def sample_builder(sample_dir, data_dir):
    """`cxr14_subset/224` built from the real sample."""
    from cxr.data import datasets

    return datasets.prepare("cxr14_subset/224", data_dir=str(data_dir), manual_dir=str(sample_dir))


@pytest.fixture(scope="session")
def synthetic_builder(data_dir):
    """`cxr14_subset/synthetic`, generated offline."""
    from cxr.data import datasets

    return datasets.prepare("cxr14_subset/synthetic", data_dir=str(data_dir))


def rerun_under_the_other_backend(test_file: str) -> None:
    """Runs the other tests of `test_file` with the other Keras backend (TF <-> JAX).

    The same tests under each backend, without importing Keras twice in one process.
    """
    import keras

    other = "tensorflow" if keras.backend.backend() == "jax" else "jax"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            test_file,
            "-q",
            "-m",
            "not large",
            "-k",
            "not other_backend",
        ],
        env={**os.environ, "KERAS_BACKEND": other},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-5000:]
