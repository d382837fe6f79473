"""`cxr bench --compare OLD NEW` on hand-made results files, and what `--scale` and
`--backbones` mean (`cxr.bench.plan`): no framework measured."""

import json
import subprocess
import sys

import pytest

from cxr.bench import compare, options, plan, rows
from cxr.errors import EXIT_CODE, UserError
from cxr.model import backbones


def result_row(name, median, ratio, unit="images/s"):
    figure = {"median": median, "min": median / 2, "max": median * 2}
    return {"row": name, "figure": figure, "baseline": figure, "ratio": ratio, "unit": unit}


@pytest.fixture
def two_files(tmp_path):
    old = {
        "rows": [
            result_row("1. forward, batch 1 vs batch 32", 100.0, 0.5),
            result_row("8. saliency ig: s per map", 2.0, 40.0, unit="s"),
            result_row("4. training with XLA vs without", 30.0, 1.0),
            result_row("5. gone", 10.0, 1.0),
        ]
    }
    new = {
        "rows": [
            result_row("1. forward, batch 1 vs batch 32", 50.0, 0.25),  # half the images/s
            result_row("8. saliency ig: s per map", 1.0, 20.0, unit="s"),  # half the seconds
            result_row("4. training with XLA vs without", 31.0, 1.03),  # within 5%
            result_row("9. new", 7.0, 0.3),
        ]
    }
    paths = tmp_path / "old.json", tmp_path / "new.json"
    for path, content in zip(paths, (old, new), strict=True):
        path.write_text(json.dumps(content))
    return paths


def test_compare_gives_each_rows_new_over_old_and_which_way_is_faster(two_files):
    entries = {e["row"]: e for e in compare.compare(*map(compare.load, two_files))}
    assert list(entries) == [
        "1. forward, batch 1 vs batch 32",
        "8. saliency ig: s per map",
        "4. training with XLA vs without",
        "9. new",
        "5. gone",
    ]
    forward = entries["1. forward, batch 1 vs batch 32"]
    assert (forward["old"], forward["new"], forward["figure_ratio"]) == (100.0, 50.0, 0.5)
    assert (forward["old_ratio"], forward["new_ratio"], forward["ratio_ratio"]) == (0.5, 0.25, 0.5)
    assert forward["verdict"] == "slower"
    assert entries["8. saliency ig: s per map"]["figure_ratio"] == 0.5
    assert entries["8. saliency ig: s per map"]["verdict"] == "faster"  # fewer seconds
    assert entries["4. training with XLA vs without"]["verdict"] == "same"
    assert entries["9. new"]["verdict"] == "only in NEW" and entries["9. new"]["old"] is None
    assert entries["5. gone"]["verdict"] == "only in OLD" and entries["5. gone"]["new"] is None


def test_cxr_bench_compare_prints_every_row(two_files, capsys):
    rows.main(["--compare", *map(str, two_files)])
    lines = capsys.readouterr().out.splitlines()
    table = {line.split(" | ")[0].lstrip("| "): line for line in lines if line.startswith("| ")}
    assert (
        "| 100 | 50 | 0.50 | 0.50 | 0.25 | 0.50 | slower |"
        in table["1. forward, batch 1 vs batch 32"]
    )
    assert (
        "| s | 2 | 1 | 0.50 | 40.00 | 20.00 | 0.50 | faster |" in table["8. saliency ig: s per map"]
    )
    assert table["5. gone"].endswith("| only in OLD |")
    assert len([t for t in table if t[0].isdigit()]) == 5
    assert not any(line.startswith("note:") for line in lines)  # same machine, no scale


def test_compare_notes_other_machines_and_check_runs():
    old = {"machine": {"cpu": "Xeon", "cores": 2, "gpus": []}, "scale": 1, "rows": []}
    new = {"machine": {"cpu": "EPYC", "cores": 2, "gpus": []}, "scale": 0.01, "rows": []}
    said = compare.notes(old, new)
    assert len(said) == 2
    assert "OLD: Xeon, 2 cores" in said[0] and "NEW: EPYC, 2 cores" in said[0]
    assert said[1] == "note: NEW is a check run (--scale 0.01): not measurements"
    assert compare.notes(old, old) == []


def test_compare_names_a_file_that_is_not_a_results_file(two_files, tmp_path, capsys):
    (tmp_path / "notes.json").write_text('{"rows": [{"name": 1}]}')
    with pytest.raises(UserError, match="notes.json is not a bench results file"):
        compare.load(tmp_path / "notes.json")
    with pytest.raises(SystemExit) as exit_info:
        rows.main(["--compare", str(tmp_path / "missing.json"), str(two_files[1])])
    assert exit_info.value.code == EXIT_CODE
    assert "missing.json does not exist" in capsys.readouterr().err


def test_row9_backbones_default_to_every_registered_one_but_tiny():
    assert plan.row9_backbones(None) == [n for n in backbones.names() if n != "tiny"]
    assert "densenet121" in plan.row9_backbones(None)
    assert plan.row9_backbones("tiny, resnet50v2") == ["tiny", "resnet50v2"]
    assert plan.row9_backbones("none") == []
    with pytest.raises(UserError, match="unknown backbone 'resnet'"):
        plan.row9_backbones("tiny,resnet")
    with pytest.raises(UserError, match="--backbone 'vgg16'"):
        plan.check_backbone("vgg16")


def test_scale_below_one_is_a_check_of_every_row_and_one_is_the_measurement():
    full, check = plan.Sizes.at(1), plan.Sizes.at(0.01)
    assert (full.repeats, full.patients, full.resamples, full.sample_images) == (5, 100, 1000, None)
    assert not full.is_check and check.is_check
    assert (check.repeats, check.few_repeats, check.build_repeats) == (1, 1, 1)
    assert check.patients >= 4 and check.sample_images >= 4 and check.epoch_steps == 1
    assert plan.Sizes.at(8).patients == 800 and plan.Sizes.at(8).epoch_steps == 80
    with pytest.raises(UserError, match="--scale 0"):
        plan.Sizes.at(0)
    args = options.parser().parse_args(["--scale", "0.01", "--backbones", "tiny"])
    assert (args.scale, args.backbones, args.backbone) == (0.01, "tiny", "densenet121")


def test_the_command_line_and_compare_modules_start_no_framework():
    # `cxr.cli.arguments` reads `cxr bench`'s command line before TensorFlow starts.
    code = (
        "import sys, cxr.bench.options, cxr.bench.plan, cxr.bench.compare, cxr.bench.provenance;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'jax', 'keras')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
