"""`cxr saliency` on the real sample's boxed test images: files, scores, sanity, bad input,
and its W&B job read back from the offline run's own files: a `saliency` job in the run's
group, whose logged keys are what the dashboard's Saliency section names."""

import contextlib
import io
import json

import keras
import numpy as np
import pytest
import wandb

from cxr.model import classifier
from cxr.pipeline import dashboard, saliency_regions, saliency_study
from cxr.saliency import sanity
from cxr.tracking import writer
from cxr.tracking.rundir import RunDir, SaliencyDir
from tests.helpers.dashboard_spec import assert_logged
from tests.helpers.wandb_records import logged_items, read_wandb_records

# The tests share one study (a module fixture): in one xdist group it runs once, not once
# per worker.
pytestmark = pytest.mark.xdist_group("saliency_study")
OPTIONS = ["ig.steps=4", "smoothgrad.samples=4", "occlusion.patch=56", "occlusion.stride=56"]
METHODS = ["cam", "gradcam", "gradcam++", "ig", "smoothgrad", "occlusion"]


@pytest.fixture(scope="module")
def run(tmp_path_factory, sample_builder, sample_dir, data_dir):
    run = RunDir(tmp_path_factory.mktemp("runs") / "quick" / "r1")
    data = {
        "name": "cxr14_subset/224",
        "data_dir": str(data_dir),
        "manual_dir": str(sample_dir),
        "batch_size": 4,
        "test_split": "test",
        "val_split": "validation",
    }
    config = {
        "name": "quick",
        "seed": 0,
        "data": data,
        "eval": {"num_bootstrap": 50, "gallery_per_kind": 2},
    }
    run.create({**config, "wandb": {"mode": "offline", "project": "t"}})
    tiny_cxr_model().save(run.model_file)
    return run


@pytest.fixture(scope="module")
def permuted(run):
    """A run "trained on permuted labels": the tiny model with other weights, same dataset."""
    other = RunDir(run.path.parent.parent / "quick_permuted" / "r1")
    config = run.config()
    other.create({**config, "name": "quick_permuted", "train": {"permute_labels_seed": 0}})
    tiny_cxr_model(seed=1).save(other.model_file)  # other weights drawn by Keras's initializers
    return other


def tiny_cxr_model(seed=0):
    """The tiny backbone, untrained: a 7 x 7 grid at 224 px, as DenseNet121's.

    Its cascade has the stages logits, block4 ... block1, stem. DenseNet121 itself costs
    minutes per sanity cascade on this shared CPU; its own stages are tested in
    tests/model/test_densenet121.py.
    """
    keras.utils.set_random_seed(seed)
    return classifier.build_model(backbone="tiny", num_labels=14, image_size=224)


def _main(*argv):
    try:
        return saliency_study.main([str(a) for a in argv])
    except SystemExit as e:
        return e.code


@pytest.fixture(scope="module")
def study(run, permuted, tmp_path_factory):
    """The study of every method, W&B offline with its files kept out of the home folder."""
    args = ["--run", run.path, "--methods", *METHODS, "--sanity-images", 2, "--gallery-images", 3]
    args += ["--permuted-run", permuted.path]
    wandb_dirs = tmp_path_factory.mktemp("wandb_dirs")
    with pytest.MonkeyPatch.context() as env, contextlib.redirect_stdout(io.StringIO()):
        for var in ("WANDB_DIR", "WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR"):
            env.setenv(var, str(wandb_dirs / var.lower()))
        assert _main(*args, *[x for o in OPTIONS for x in ("--option", o)]) is None
        wandb.teardown()
    target = run.saliency("cxr14_subset/224", "test")
    return target, json.loads(target.file(SaliencyDir.SCORES).read_text())


@pytest.fixture(scope="module")
def view(run, study):
    """`cxr dashboard --run` on the studied run, logged out: the view's spec."""
    with pytest.MonkeyPatch.context() as env, contextlib.redirect_stdout(io.StringIO()):
        env.setenv("WANDB_MODE", "offline")  # the view is written, not saved
        return json.loads(dashboard.dashboard(run=run).read_text())


def test_every_boxed_test_image_is_scored_by_every_method(study, sample_builder):
    _, saved = study
    pairs = saliency_regions.split_boxes(sample_builder, "test")
    assert len({p[0] for p in pairs}) == saved["images"] == 9  # the sample's boxed test images
    assert saved["boxes"] == len(pairs)
    for method in METHODS:
        columns = saved["scores"][method]
        for key in ("wangstyle60/acc@iobb50", "wangstyle180/acc@iobb10", "hit", "pointing"):
            assert key in columns
        for key in ("miou_otsu", "auprc", "hit"):
            mean = columns[key]["label_mean"]
            assert 0.0 <= mean["value"] <= 1.0
            assert mean["ci_low"] <= mean["value"] + 1e-12 <= mean["ci_high"] + 2e-12
            per_label = columns[key]["per_label"]
            # CheXlocalize's average: the mean of the per-label means.
            assert mean["value"] == pytest.approx(np.mean([v["value"] for v in per_label.values()]))
        assert saved["seconds_per_map"][method] > 0
        verdict = saved["sanity"][method]["verdict"]
        assert set(sanity.METRICS) <= set(verdict)
        # A method with constant maps, trained or randomised, gets no verdict (sanity.verdicts).
        constant = verdict.get("constant_maps", 0) + verdict.get("constant_randomized_maps", 0)
        assert (verdict["passes"] is None) == (constant > 0)
        assert verdict["passes"] is None or isinstance(verdict["passes"], bool)
        blocks = [s["block"] for s in saved["sanity"][method]["stages"]]
        assert blocks == ["logits", "block4", "block3", "block2", "block1", "stem"]
    # Wang et al.'s own protocol is on CAM's grid only; the baselines stand beside.
    assert "wang60/acc@iobb50" in saved["scores"]["cam"]
    assert "wang60/acc@iobb50" not in saved["scores"]["ig"]
    assert {"random", "centre"} <= set(saved["scores"])


def test_the_random_baseline_is_the_mean_box_share_of_pixels(study, sample_builder):
    _, saved = study
    pairs = saliency_regions.split_boxes(sample_builder, "test")
    shares = {}
    for _, label, box, _, _ in pairs:  # pixel centres of a 224 px image inside the box
        centres = (np.arange(224) + 0.5) / 224
        rows = ((centres >= box[0]) & (centres <= box[2])).sum()
        cols = ((centres >= box[1]) & (centres <= box[3])).sum()
        shares.setdefault(label, []).append(rows * cols / 224**2)
    expected = np.mean([np.mean(v) for v in shares.values()])
    assert saved["scores"]["random"]["hit"]["label_mean"]["value"] == pytest.approx(expected)


def test_comparisons_are_paired_differences_of_the_label_means(study):
    _, saved = study
    for pair, method in (("gradcam - ig", "gradcam"), ("cam - centre", "cam")):
        other = pair.split(" - ")[1]
        diff = saved["comparisons"][pair]["hit"]
        a = saved["scores"][method]["hit"]["label_mean"]["value"]
        b = saved["scores"][other]["hit"]["label_mean"]["value"]
        assert diff["difference"] == pytest.approx(a - b)


def test_files_plots_and_the_tuned_threshold_note(study):
    target, saved = study
    for name in (SaliencyDir.SCORE_PLOT, SaliencyDir.SANITY_PLOT):
        assert target.file(name).stat().st_size > 1000
    assert target.gallery(0).is_file()
    # The note says where thresholds were tuned, or that validation has no boxes.
    assert "validation" in saved["tuned_threshold"]
    has_tuned = "miou_tuned" in saved["scores"]["gradcam"]
    assert has_tuned == saved["tuned_threshold"].startswith("chosen")


def test_an_unknown_method_is_one_line_listing_the_known_ones(run, capsys):
    assert _main("--run", run.path, "--methods", "gradcam", "lime") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "lime" in err and "smoothgrad" in err and "occlusion" in err
    assert _main("--run", run.path, "--methods", "ig", "--option", "ig.stepz=3") == 2
    assert "ig takes steps" in capsys.readouterr().err


def test_a_split_without_boxes_names_the_splits_with_boxes(run, capsys):
    assert _main("--run", run.path, "--split", "train", "--methods", "gradcam") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'train'" in err and "boxes are in: " in err and "test" in err
    assert not run.saliency("cxr14_subset/224", "train").path.exists()


def test_the_data_randomisation_test_uses_the_cascades_images_baseline_and_rule(study, permuted):
    _, saved = study
    assert saved["permuted_run"] == str(permuted.path)
    for method in METHODS:
        cascade = saved["sanity"][method]
        data = cascade["data_randomization"]
        assert data["images"] == cascade["images"] == 2
        for metric in sanity.METRICS:
            row = data["verdict"][metric]
            # The same images and seed: the random-pair baseline is the cascade's.
            assert row["baseline"] == cascade["verdict"][metric]["baseline"]
            assert -1.0 <= row["mean"] <= 1.0 + 1e-9
            assert row["passes"] == (row["mean"] <= row["baseline"])
        # No verdict where the trained or permuted model's maps are constant (the cascade's rule).
        expected = all(data["verdict"][m]["passes"] for m in sanity.METRICS)
        v = data["verdict"]
        constant = v.get("constant_maps", 0) + v.get("constant_randomized_maps", 0) > 0
        assert data["verdict"]["passes"] == (None if constant else expected)


def test_a_permuted_run_on_true_labels_or_other_data_is_one_line(run, permuted, capsys, tmp_path):
    target = run.saliency("cxr14_subset/224", "validation")
    args = ["--run", run.path, "--split", "validation", "--methods", "gradcam"]
    assert _main(*args, "--permuted-run", run.path) == 2  # trained on its true labels
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "true labels" in err and ":permuted" in err
    other = RunDir(tmp_path / "other" / "r1")
    config = permuted.config()
    other.create({**config, "data": {**config["data"], "name": "cxr14_subset/synthetic"}})
    assert _main(*args, "--permuted-run", other.path) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cxr14_subset/synthetic" in err and "one dataset" in err
    assert not target.path.exists()  # refused before anything was written


# --- Its W&B job and the dashboard's Saliency section ----------------------------------


def started(target):
    """The W&B run record of the job whose files are in `target`."""
    (wandb_file,) = target.path.glob("wandb/offline-run-*/run-*.wandb")
    records = read_wandb_records(wandb_file)
    return next(r.run for r in records if r.WhichOneof("record_type") == "run")


def test_the_study_is_a_saliency_job_in_the_runs_group(run, study):
    started_run = started(study[0])
    assert (started_run.job_type, started_run.run_group) == ("saliency", "quick")
    assert started_run.display_name == "quick/r1/saliency cxr14_subset/224 test"
    assert "saliency" in started_run.tags and "cxr14_subset/224" in started_run.tags
    # Not an eval job: nothing under the run's evaluation folders, nor as the run itself.
    assert not (run.path / RunDir.EVALUATIONS).exists()
    assert not list(run.wandb_dir.glob("offline-run-*"))


def test_the_run_view_shows_the_saliency_job(study, view):
    name = started(study[0]).display_name
    assert view["filter"] == [["ID", "r1"], ["Name", name]]


def test_the_saliency_section_names_what_the_job_logged(study, view):
    spec, scores = view, study[1]["scores"]
    (section,) = [s for s in spec["sections"] if s["name"] == dashboard.SALIENCY_SECTION]
    items, prefix = logged_items(study[0].path), writer.wandb_key("test", "saliency/")
    others = [p for p in section["panels"] if p["type"] != "bar"]
    assert [p["type"] for p in others] == ["table", "media", "media"]  # gallery, two plots
    assert_logged({**spec, "sections": [{**section, "panels": others}]}, items)
    # A bar names each method's number; the job logs it unless the method has no such
    # score (only cam and the centre baseline have Wang's grid; the random baseline
    # scores pointing only).
    shown = {k for p in section["panels"] if p["type"] == "bar" for k in p["keys"]}
    summary = items["summary"]
    for key in shown:
        method, number = key.removeprefix(prefix).split("/", 1)
        measured = number in scores.get(method, {}) or number in (
            "seconds_per_map",
            "sanity_passes",
        )
        assert (key in summary) == measured, key
        assert key not in summary or isinstance(summary[key], float | int | None), key
    # And every number it logged of a method or baseline ("<method>/<number>") is shown.
    logged = {k for k in summary if k.startswith(prefix) and "/" in k.removeprefix(prefix)}
    assert {f"{prefix}{m}/hit" for m in saliency_study.DEFAULT_METHODS} <= logged
    assert logged - shown == set()
