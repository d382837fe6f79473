"""`cxr saliency`'s W&B job, read back from an offline run's own files: a `saliency` job
in the run's group, and what the dashboard's Saliency section names is what it logged."""

import contextlib
import io
import json

import pytest
import wandb
from test_dashboard import assert_logged, logged_items
from test_saliency_study import OPTIONS, tiny_cxr_model
from test_wandb_logging import read_wandb_records

from cxr.pipeline import dashboard, saliency_study
from cxr.tracking import writer
from cxr.tracking.rundir import RunDir, SaliencyDir

DATASET, SPLIT = "cxr14_subset/224", "test"


@pytest.fixture(scope="module")
def studied(tmp_path_factory, sample_builder, sample_dir, data_dir):
    """`cxr saliency` with every default method, W&B offline, on the real sample's boxed
    test images and an untrained tiny model; then `cxr dashboard --run` on the run."""
    tmp = tmp_path_factory.mktemp("saliency_wandb")
    run = RunDir(tmp / "runs" / "quick" / "r1")
    data = {"name": DATASET, "data_dir": str(data_dir), "manual_dir": str(sample_dir)}
    data.update(batch_size=4, test_split=SPLIT, val_split="validation")
    config = {"name": "quick", "seed": 0, "data": data, "eval": {"num_bootstrap": 20}}
    run.create({**config, "wandb": {"mode": "offline", "project": "t"}})
    tiny_cxr_model().save(run.model_file)
    args = ["--run", str(run.path), "--sanity-images", "2", "--gallery-images", "2"]
    args += [x for option in OPTIONS for x in ("--option", option)]
    with pytest.MonkeyPatch.context() as env, contextlib.redirect_stdout(io.StringIO()):
        for var in ("WANDB_DIR", "WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR"):
            env.setenv(var, str(tmp / var.lower()))
        saliency_study.main(args)
        wandb.teardown()
        env.setenv("WANDB_MODE", "offline")  # the view is written, not saved
        spec_file = dashboard.dashboard(run=run)
    target = run.saliency(DATASET, SPLIT)
    return dict(
        run=run,
        target=target,
        spec=json.loads(spec_file.read_text()),
        scores=json.loads(target.file(SaliencyDir.SCORES).read_text())["scores"],
    )


def started(target):
    """The W&B run record of the job whose files are in `target`."""
    (wandb_file,) = target.path.glob("wandb/offline-run-*/run-*.wandb")
    records = read_wandb_records(wandb_file)
    return next(r.run for r in records if r.WhichOneof("record_type") == "run")


def test_the_study_is_a_saliency_job_in_the_runs_group(studied):
    started_run = started(studied["target"])
    assert (started_run.job_type, started_run.run_group) == ("saliency", "quick")
    assert started_run.display_name == f"quick/r1/saliency {DATASET} {SPLIT}"
    assert "saliency" in started_run.tags and DATASET in started_run.tags
    # Not an eval job: nothing under the run's evaluation folders, nor as the run itself.
    assert not (studied["run"].path / RunDir.EVALUATIONS).exists()
    assert not list(studied["run"].wandb_dir.glob("offline-run-*"))


def test_the_run_view_shows_the_saliency_job(studied):
    name = started(studied["target"]).display_name
    assert studied["spec"]["filter"] == [["ID", "r1"], ["Name", name]]


def test_the_saliency_section_names_what_the_job_logged(studied):
    spec, scores = studied["spec"], studied["scores"]
    (section,) = [s for s in spec["sections"] if s["name"] == "Saliency"]
    items, prefix = logged_items(studied["target"].path), writer.wandb_key(SPLIT, "saliency/")
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
