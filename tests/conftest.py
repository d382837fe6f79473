"""Shared fixtures: the real NIH sample and datasets built once per test session."""

import os
import pathlib

import pytest

from tests.helpers.paths import ROOT


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
