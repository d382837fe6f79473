"""`cxr data <builder> --config=... --manual_dir=...` for every registered builder (issue 24 §6)."""

import pytest
import tensorflow_datasets as tfds

from cxr.data import datasets
from cxr_tfds import registry, tfds_build
from tests.helpers import chexpert_files


def cxr_data(capsys, *argv) -> tuple[int, str]:
    """`cxr data ARGV` in this process: (exit code, stderr)."""
    with pytest.raises(SystemExit) as exit_:
        tfds_build.main(list(argv))
    return exit_.value.code, capsys.readouterr().err


@pytest.mark.parametrize("name", registry.names())
def test_a_folder_without_the_release_is_one_line_and_creates_nothing(
    name, tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("CXR14_DIR", raising=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    data_dir = tmp_path / "tfds"
    config = tfds.builder_cls(name).BUILDER_CONFIGS[0].name
    code, err = cxr_data(
        capsys, name, f"--config={config}", f"--manual_dir={empty}", f"--data_dir={data_dir}"
    )
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert str(empty) in lines[0]
    assert not data_dir.exists()  # checked before TFDS made any folder


@pytest.mark.parametrize("name", registry.names())
def test_an_unknown_config_names_the_builders_configs(name, tmp_path, capsys):
    code, err = cxr_data(capsys, name, "--config=no_such", f"--data_dir={tmp_path / 't'}")
    known = ", ".join(c.name for c in tfds.builder_cls(name).BUILDER_CONFIGS)
    assert code == 2 and f"{name} has no config 'no_such'; configs: {known}" in err


def test_cxr_data_builds_another_dataset_that_cxr_data_then_reads(tmp_path, capsys):
    manual = chexpert_files.make_manual_dir(tmp_path, 12, valid_images=3)
    data_dir = tmp_path / "tfds"
    argv = ["cxr_chexpert", "--config=64", f"--manual_dir={manual}", f"--data_dir={data_dir}"]
    code, err = cxr_data(capsys, *argv)
    assert code in (0, None), err[-2000:]  # absl exits with None after a good build
    builder = datasets.prepare("cxr_chexpert/64", str(data_dir))  # built: no manual dir needed
    assert builder.info.splits["test"].num_examples == 3
    total = sum(s.num_examples for s in builder.info.splits.values())
    assert total == 12 + 3
