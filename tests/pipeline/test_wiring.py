"""One setup from a run's config for training and its later jobs: W&B (training, eval
and saliency jobs), evaluators, TTA, the rerun under the run's backend; and the validation
predictions an evaluation saves for `cxr predict --operating-point`."""

import json
import os

import keras
import numpy as np
import pytest

from cxr.data import datasets, evaluation_batches
from cxr.errors import UserError
from cxr.evaluation import evaluators
from cxr.pipeline import evaluate, saved_run, wiring
from cxr.tracking import wandb_logging
from cxr.tracking.disabled_run import DisabledRun
from cxr.tracking.rundir import EvalDir, RunDir

CONFIG = {
    "name": "quick",
    "seed": 7,
    "data": {"name": "cxr14_subset/synthetic", "val_split": "validation[:8]"},
    "eval": {"num_bootstrap": 30, "gallery_per_kind": 2, "tta_flip": True, "tta_crop": 0.0},
    "wandb": {"project": "p", "mode": "None"},  # "None" as a command-line override saves it
}


@pytest.fixture
def started(monkeypatch):
    """The keyword arguments of every `init_wandb` call."""
    calls = []
    monkeypatch.setattr(wandb_logging, "init_wandb", lambda **kw: calls.append(kw))
    return calls


def test_training_logs_as_the_run_itself(started, tmp_path):
    run = RunDir(tmp_path / "quick" / "run1")
    wiring.start_wandb(CONFIG, run=run)
    wiring.start_wandb(CONFIG, run=run, chief=False)
    backend = keras.backend.backend()
    expected = dict(
        config=CONFIG,
        name="quick/run1",
        run_dir=run.path,
        tags=("quick", backend, "cxr14_subset/synthetic"),
        group="quick",
        mode=None,
        project="p",
        run_id="run1",
    )
    assert started == [expected, {**expected, "mode": "disabled"}]  # only the chief logs


def test_a_reevaluation_is_an_eval_job_in_the_runs_group(started, tmp_path):
    run = RunDir(tmp_path / "quick" / "run1")
    wiring.start_wandb(CONFIG, run=run, evaluation=("cxr14_subset/224", "test[:50%]"))
    (kwargs,) = started
    assert kwargs["config"]["eval"] == {
        **CONFIG["eval"],
        "dataset": "cxr14_subset/224",
        "split": "test[:50%]",
    }
    assert kwargs["config"]["seed"] == 7 and "dataset" not in CONFIG["eval"]  # a copy
    assert kwargs["name"] == "quick/run1/eval cxr14_subset/224 test[:50%]"
    assert kwargs["run_dir"] == run.path / "evaluations" / "cxr14_subset_224" / "test_50"
    assert kwargs["tags"] == ("quick", keras.backend.backend(), "cxr14_subset/224", "eval")
    assert (kwargs["group"], kwargs["job_type"], kwargs["mode"]) == ("quick", "eval", None)
    assert "run_id" not in kwargs  # a new W&B run each time


def test_a_saliency_study_is_a_saliency_job_in_the_runs_group(started, tmp_path):
    run = RunDir(tmp_path / "quick" / "run1")
    on = ("cxr14_subset/224", "test")
    wiring.start_wandb(CONFIG, run=run, evaluation=on, job=wiring.SALIENCY)
    (kwargs,) = started
    assert kwargs["config"]["saliency"] == {"dataset": "cxr14_subset/224", "split": "test"}
    assert kwargs["config"]["eval"] == CONFIG["eval"]  # the run's own eval fields, untouched
    assert kwargs["name"] == "quick/run1/saliency cxr14_subset/224 test"
    assert kwargs["name"] == wiring.wandb_name(CONFIG, run=run, job=wiring.SALIENCY, evaluation=on)
    assert kwargs["run_dir"] == run.path / "saliency" / "cxr14_subset_224-test"
    assert kwargs["tags"] == ("quick", keras.backend.backend(), "cxr14_subset/224", "saliency")
    assert (kwargs["group"], kwargs["job_type"], kwargs["mode"]) == ("quick", "saliency", None)
    assert "run_id" not in kwargs


def test_a_job_without_wandb_gets_a_disabled_run_not_none(tmp_path):
    run = RunDir(tmp_path / "quick" / "run1")
    off = {**CONFIG, "wandb": {"mode": "disabled"}}
    jobs = [
        wiring.start_wandb(off, run=run),
        wiring.start_wandb(off, run=run, evaluation=("cxr14_subset/224", "test")),
        wiring.start_wandb(CONFIG, run=run, chief=False),  # only the chief logs
    ]
    assert [type(job) for job in jobs] == [DisabledRun] * 3
    assert not (run.path / "wandb").exists() and not (run.path / "evaluations").exists()


@pytest.fixture
def execs(monkeypatch, tmp_path):
    """A run saved under the other backend; `os.execve`'s calls, captured instead of made."""
    other = "tensorflow" if keras.backend.backend() == "jax" else "jax"
    run = RunDir(tmp_path / "quick" / "run1")
    run.create({**CONFIG, "backend": other})
    calls = []
    monkeypatch.setattr(saved_run.os, "execve", lambda *args: calls.append(args))
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    return run, other, calls


def test_a_run_of_the_other_backend_is_rerun_under_it(execs):
    run, other, calls = execs
    saved_run.rerun_in_run_backend(run, "saliency", ["--run", str(run.path)])
    ((program, args, env),) = calls
    assert args == [program, "-m", "cxr", "saliency", "--run", str(run.path)]
    assert env["KERAS_BACKEND"] == other and env["PATH"] == os.environ["PATH"]


def test_no_rerun_in_the_runs_backend_or_when_keras_backend_is_set(execs, monkeypatch):
    run, other, calls = execs
    monkeypatch.setenv("KERAS_BACKEND", keras.backend.backend())  # the user's choice
    saved_run.rerun_in_run_backend(run, "evaluate", [])
    monkeypatch.delenv("KERAS_BACKEND")
    run.config_file.write_text(json.dumps({**CONFIG, "backend": keras.backend.backend()}))
    saved_run.rerun_in_run_backend(run, "evaluate", [])
    run.config_file.write_text(json.dumps(CONFIG))  # saved before runs named their backend
    saved_run.rerun_in_run_backend(run, "evaluate", [])
    assert calls == []


def test_evaluation_setup_reads_the_eval_fields():
    chosen, tta = wiring.evaluation_setup(CONFIG)
    assert tta == {"flip": True, "crop": 0.0}
    assert [type(e) for e in chosen] == [
        evaluators.Calibration,
        evaluators.Classification,
        evaluators.Galleries,
        evaluators.Localization,
        evaluators.Subgroups,
    ]
    assert (chosen[1].num_bootstrap, chosen[1].seed) == (30, 7)
    # A run saved before TTA existed has no tta fields: TTA off.
    old = {**CONFIG, "eval": {"num_bootstrap": 30, "gallery_per_kind": 2}}
    assert wiring.evaluation_setup(old)[1] == {"flip": False, "crop": 0.0}


def test_evaluation_setup_reads_eval_evaluators():
    spec = {
        "boxes": {"type": "localization"},
        "auroc": {"type": "classification", "num_bootstrap": 9},
    }
    chosen, _ = wiring.evaluation_setup({**CONFIG, "eval": {**CONFIG["eval"], "evaluators": spec}})
    assert [type(e) for e in chosen] == [evaluators.Classification, evaluators.Localization]
    assert [(e.seed, getattr(e, "num_bootstrap", None)) for e in chosen] == [(7, 9), (7, None)]
    unknown = {**CONFIG, "eval": {**CONFIG["eval"], "evaluators": {"boxes": {"type": "box"}}}}
    with pytest.raises(UserError, match=r"eval.evaluators.boxes: unknown evaluator type 'box'"):
        wiring.evaluation_setup(unknown)


def test_a_bad_tta_crop_is_one_clear_error():
    bad = {**CONFIG, "eval": {**CONFIG["eval"], "tta_crop": 1.5}}
    with pytest.raises(UserError, match=r"eval.tta_crop=1.5"):
        wiring.evaluation_setup(bad)


def test_evaluation_saves_the_validation_predictions(synthetic_builder, tmp_path):
    keras.utils.set_random_seed(0)
    size = datasets.image_size(synthetic_builder)
    model = keras.Sequential(
        [
            keras.Input((size, size, 3)),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(14),
        ]
    )
    run = RunDir(tmp_path / "run")
    val_dir = run.evaluation("cxr14_subset/synthetic", "validation[:8]")
    evaluate.evaluate(
        model=model,
        builder=synthetic_builder,
        split="test[:4]",
        val_split="validation[:8]",
        eval_dir=run.evaluation(),
        evaluators=[],
        batch_size=3,
        val_dir=val_dir,
    )
    saved = val_dir.read_predictions()
    assert (saved["split"], saved["dataset"]) == ("validation[:8]", "cxr14_subset/synthetic")
    labels = datasets.split_labels(synthetic_builder, "validation[:8]")
    np.testing.assert_array_equal(saved["labels"], labels)
    # Reference: the model on the split's images, one at a time, and a numpy sigmoid.
    batches = evaluation_batches.batches(synthetic_builder, "validation[:8]", 8)
    images = np.concatenate([b["image"] for b in batches.as_numpy_iterator()])
    logits = np.concatenate([np.asarray(model(images[i : i + 1])) for i in range(len(images))])
    # float32 means over the image's pixels, summed in another order for another batch
    # size: rounding of ~1e-7 relative, far below 1e-6 of a probability.
    np.testing.assert_allclose(saved["probs"], 1 / (1 + np.exp(-logits)), atol=1e-6)
    assert not (run.evaluation().path / EvalDir.PREDICTIONS).exists()  # no evaluator asked
