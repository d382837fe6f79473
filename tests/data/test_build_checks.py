"""Building `cxr14_subset`: a wrong manual dir is one line and leaves no folder; a build
records what it was built from and refuses to be silently reused for other files;
`import cxr_tfds.builders` is all `tfds.load` needs (issue 23, items 2 and 3)."""

import os
import re
import subprocess
import sys

import pytest
import tensorflow_datasets as tfds

from cxr.data import datasets
from cxr.errors import UserError
from cxr_tfds import tfds_build
from cxr_tfds.cxr14_subset import source_dir
from tests.helpers.paths import ROOT

LISTS = ("Data_Entry_2017_v2020.csv", "train_val_list.txt", "test_list.txt", "BBox_List_2017.csv")


def manual_dir(path, sample_dir, images=6, files=LISTS):
    """A manual dir of symlinks into the real sample: `files` and its first `images` PNGs."""
    (path / "images").mkdir(parents=True)
    for name in files:
        (path / name).symlink_to(sample_dir / name)
    for png in sorted((sample_dir / "images").glob("*.png"))[:images]:
        (path / "images" / png.name).symlink_to(png)
    return path


@pytest.fixture(autouse=True)
def no_cxr14_dir(monkeypatch):
    monkeypatch.delenv("CXR14_DIR", raising=False)


def cxr_data(capsys, *argv) -> tuple[int, str]:
    """`cxr data cxr14_subset ARGV` in this process: (exit code, stderr)."""
    with pytest.raises(SystemExit) as exit_:
        tfds_build.main(["cxr14_subset", *argv])
    return exit_.value.code, capsys.readouterr().err


# --- what a folder lacks, in one clause naming it ---------------------------------------


@pytest.mark.parametrize(
    ("layout", "clause"),
    [
        ("missing", "{d} does not exist"),
        ("file", "{d} is a file, not a folder"),
        ("empty", "{d} exists but is empty"),
        ("no_csv", "{d} exists but holds no Data_Entry_2017_v2020.csv (nor Data_Entry_2017.csv)"),
        ("no_test_list", "{d} exists but lacks test_list.txt"),
        ("no_images", "{d} holds NIH's lists but no image"),
        ("complete", None),
    ],
)
def test_lacks_names_the_folder_and_the_missing_file(tmp_path, sample_dir, layout, clause):
    d = tmp_path / "nih"
    if layout == "file":
        d.write_text("not a folder")
    elif layout == "empty":
        d.mkdir()
    elif layout != "missing":
        files = {
            "no_csv": LISTS[1:],
            "no_test_list": (LISTS[0], LISTS[1]),
        }.get(layout, LISTS)
        manual_dir(d, sample_dir, images=0 if layout == "no_images" else 2, files=files)
    why = source_dir.lacks(d)
    if clause is None:
        assert why is None
    else:
        assert why is not None and why.startswith(clause.format(d=d))


# --- item 2: a fresh build without files ------------------------------------------------


@pytest.mark.parametrize("given", ["missing", "empty"])
def test_cxr_data_without_files_is_one_line_naming_the_path_and_creates_nothing(
    tmp_path, capsys, given
):
    manual = tmp_path / "cxr14"
    if given == "empty":
        manual.mkdir()
    data_dir = tmp_path / "tfds"
    code, err = cxr_data(capsys, "--config=224", f"--manual_dir={manual}", f"--data_dir={data_dir}")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    state = "does not exist" if given == "missing" else "exists but is empty"
    assert lines[0].startswith("error: cxr14_subset/224 is not built, and there are no NIH")
    assert f"the manual dir {manual} {state}" in lines[0]
    assert "$CXR14_DIR is not set" in lines[0] and "(None)" not in lines[0]
    assert not data_dir.exists()  # checked before TFDS made any folder


def test_cxr_data_names_the_missing_list(tmp_path, capsys, sample_dir):
    manual = manual_dir(tmp_path / "cxr14", sample_dir, files=(LISTS[0], LISTS[2]))
    code, err = cxr_data(
        capsys, "--config=224", f"--manual_dir={manual}", f"--data_dir={tmp_path}/t"
    )
    assert code == 2 and f"the manual dir {manual} exists but lacks train_val_list.txt" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "t").exists()


def test_an_unbuilt_config_to_evaluate_on_is_one_line_and_leaves_no_folder(tmp_path):
    """What `cxr evaluate --data cxr14_subset/512` runs, with no manual dir anywhere."""
    data_dir = tmp_path / "tfds"
    with pytest.raises(UserError) as error:
        datasets.prepare("cxr14_subset/512", data_dir=str(data_dir))
    message = str(error.value)
    default = data_dir / "downloads" / "manual"
    assert message.startswith("cxr14_subset/512 is not built, and there are no NIH")
    assert f"TFDS's default manual dir {default} does not exist" in message
    assert "\n" not in message
    assert not data_dir.exists()


def test_cxr14_dir_stands_in_for_an_empty_manual_dir(tmp_path, sample_dir, monkeypatch):
    monkeypatch.setenv("CXR14_DIR", str(manual_dir(tmp_path / "env", sample_dir, images=2)))
    (tmp_path / "empty").mkdir()
    root, reasons = source_dir.choose(tmp_path / "empty")
    assert (root, reasons) == (tmp_path / "env", "")


# --- item 3: a build records its folder; other files are not silently reused ------------


@pytest.fixture
def built(tmp_path, sample_dir):
    """A 224 build from 6 real images: (builder, its manual dir, its data dir)."""
    manual = manual_dir(tmp_path / "cxr14", sample_dir, images=6)
    data_dir = tmp_path / "tfds"
    builder = datasets.prepare("cxr14_subset/224", str(data_dir), str(manual))
    return builder, manual, data_dir


def test_a_build_records_its_folder_and_images(built):
    builder, manual, data_dir = built
    assert sum(s.num_examples for s in builder.info.splits.values()) == 6
    reopened = tfds.builder("cxr14_subset/224", data_dir=str(data_dir))  # read from disk
    assert source_dir.recorded(reopened) == {
        "manual_dir": os.path.realpath(manual),
        "png_files": 6,
        "archives": {},
        "images": 6,
    }
    assert datasets.prepare("cxr14_subset/224", str(data_dir), str(manual))  # same files: reused


def test_another_folder_is_refused_with_the_rebuild_command(built, tmp_path, sample_dir):
    _, manual, data_dir = built
    other = manual_dir(tmp_path / "other", sample_dir, images=3)
    with pytest.raises(UserError) as error:
        datasets.prepare("cxr14_subset/224", str(data_dir), str(other))
    assert str(error.value) == (
        f"cxr14_subset/224 is already built from {os.path.realpath(manual)} with 6 images, "
        f"not from {os.path.realpath(other)}; rebuild with `cxr data cxr14_subset --config=224 "
        f"--manual_dir={other} --data_dir={data_dir} --overwrite` (or `make data CONFIG=224 "
        f"CXR14_DIR={other} ARGS='--data_dir={data_dir} --overwrite'`)"
    )


def test_cxr_data_refuses_a_folder_that_now_holds_other_images_until_overwrite(
    built, capsys, sample_dir
):
    _, manual, data_dir = built
    extra = sorted((sample_dir / "images").glob("*.png"))[6]
    (manual / "images" / extra.name).symlink_to(extra)
    args = ("--config=224", f"--manual_dir={manual}", f"--data_dir={data_dir}")
    code, err = cxr_data(capsys, *args)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert re.search(
        r"already built from \S+ with 6 images \(6 PNG files and 0 archives\); "
        r"the folder now holds 7 PNG files and 0 archives; rebuild with .*--overwrite",
        err,
    ), err

    with pytest.raises(SystemExit) as exit_:  # absl's app.run exits 0 after building
        tfds_build.main(["cxr14_subset", *args, "--overwrite"])
    assert exit_.value.code in (0, None)
    rebuilt = tfds.builder("cxr14_subset/224", data_dir=str(data_dir))
    assert source_dir.recorded(rebuilt)["images"] == 7
    assert sum(s.num_examples for s in rebuilt.info.splits.values()) == 7


def test_make_data_passes_args_through():
    dry = subprocess.run(
        ["make", "-n", "data", "CXR14_DIR=/x/cxr14", "CONFIG=512", "ARGS=--overwrite"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    command = [line for line in dry.stdout.splitlines() if " data cxr14_subset" in line]
    assert command and command[-1].endswith(
        "cxr data cxr14_subset --config=512 --manual_dir=/x/cxr14 --overwrite"
    )


# --- `import cxr_tfds.builders`, then `tfds.load`: the README's two lines --------------


def test_the_readmes_two_lines_load_the_dataset(tmp_path, sample_dir):
    """The README's `tfds.load` lines, run as they are in a fresh Python, $CXR14_DIR set."""
    readme = (ROOT / "README.md").read_text()
    lines = re.findall(r"^(?:import cxr_tfds\.builders.*|ds = tfds\.load\(.*)$", readme, re.M)
    assert len(lines) == 2 and lines[0].startswith("import cxr_tfds.builders"), lines
    script = "\n".join([*lines, "print(sum(1 for _ in ds))"])
    env = dict(
        os.environ,
        CXR14_DIR=str(manual_dir(tmp_path / "cxr14", sample_dir, images=6)),
        TFDS_DATA_DIR=str(tmp_path / "tfds"),
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert 0 < int(result.stdout.split()[-1]) <= 6  # train: some of the 6 images


def test_import_cxr_tfds_and_its_pure_modules_load_no_tensorflow():
    probe = (
        "import sys, cxr_tfds, cxr_tfds.labels, cxr_tfds.cxr14_subset.source_dir\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'tensorflow_datasets', 'jax', 'keras')))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
