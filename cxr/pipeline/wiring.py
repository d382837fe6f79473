"""What a run's saved config sets up for training, a re-evaluation and a saliency study alike.

    job = wiring.start_wandb(config, run=run_dir)                        # training
    job = wiring.start_wandb(config, run=run, evaluation=(dataset, split))  # cxr evaluate
    job = wiring.start_wandb(config, run=run, evaluation=(dataset, split),
                             job=wiring.SALIENCY)                        # cxr saliency
    with wandb_logging.finishing(job) as wandb_run:  # finished, as failed on an error too
        ...
    chosen, tta = wiring.evaluation_setup(config)

`config` is the run's config as a dict (`ConfigDict.to_dict()`, or `RunDir.config()`
of a saved run), so `cxr experiment` and `cxr evaluate` read the same fields the same way.
"""

import keras

from cxr.data import augment, label_space
from cxr.evaluation import evaluators
from cxr.tracking import wandb_logging
from cxr.tracking.rundir import RunDir

EVAL, SALIENCY = "eval", "saliency"  # the W&B job types of a run's later jobs
JOB_FOLDERS = {EVAL: RunDir.evaluation, SALIENCY: RunDir.saliency}  # where each writes


def start_wandb(config: dict, *, run: RunDir, evaluation=None, job=EVAL, chief=True):
    """The W&B run of a training, or of a later job on (dataset, split), in the run's group.

    A training logs as the run itself (W&B id = run id, so a resumed run continues it);
    a later job is a new W&B run of type `job`, tagged with it, whose files go to its own
    folder: an `eval` job (a re-evaluation) to its evaluation folder, a `saliency` job
    (a saliency study) to its saliency folder.

    Args:
        config: the run's config as a dict.
        run: the run directory.
        evaluation: (dataset, split) of a later job; None for the training.
        job: `EVAL` or `SALIENCY`: which later job.
        chief: False in every process but the chief, which alone logs.

    Returns:
        The `wandb` run, or a `cxr.tracking.disabled_run.DisabledRun` when W&B is off (or
        this is not the chief): never None. Use it in `wandb_logging.finishing`.
    """
    name, wandb = config["name"], config.get("wandb", {})
    mode = unset_to_none(wandb.get("mode")) if chief else "disabled"
    common = dict(group=name, mode=mode, project=wandb.get("project", "cxr"))
    backend = keras.backend.backend()
    if evaluation is None:
        return wandb_logging.init_wandb(
            config=config,
            name=wandb_name(config, run=run),
            run_dir=run.path,
            tags=(name, backend, dataset_of(config)),
            run_id=run.name,
            **common,
        )
    dataset, split = evaluation
    # The job's (dataset, split) beside the run's own settings of it, e.g. `eval`.
    where = {**config.get(job, {}), "dataset": dataset, "split": split}
    return wandb_logging.init_wandb(
        config={**config, job: where},
        name=wandb_name(config, run=run, job=job, evaluation=evaluation),
        run_dir=JOB_FOLDERS[job](run, dataset, split).path,
        tags=(name, backend, dataset, job),
        job_type=job,
        **common,
    )


def wandb_name(config: dict, *, run: RunDir, job=None, evaluation=None):
    """The W&B display name of a run's training, or of its `job` on `evaluation`.

    Args:
        config: the run's config as a dict.
        run: the run directory.
        job: `EVAL` or `SALIENCY`; None for the training.
        evaluation: the job's (dataset, split).

    Returns:
        "<name>/<run id>", or "<name>/<run id>/<job> <dataset> <split>".
    """
    name = f"{config['name']}/{run.name}"
    if job is None:
        return name
    dataset, split = evaluation
    return f"{name}/{job} {dataset} {split}"


def evaluation_setup(config: dict):
    """The evaluators and test-time-augmentation views the run's `eval` fields ask for.

    Args:
        config: the run's config as a dict.

    Returns:
        (evaluators, tta): the evaluators of `eval.evaluators` (`evaluators.from_config`;
        a run saved without the field gets `evaluators.default_spec` of its
        `eval.num_bootstrap` and `eval.gallery_per_kind`) for
        `cxr.pipeline.evaluate.evaluate`, and its `tta` argument ({"flip": bool,
        "crop": fraction}), checked by `augment.tta_views`.

    Raises:
        UserError: for a bad `eval.tta_crop`, an unknown evaluator or a setting it lacks.
    """
    e = config["eval"]
    tta = {"flip": e.get("tta_flip", False), "crop": e.get("tta_crop", 0.0)}
    augment.tta_views(**tta)
    chosen = evaluators.from_config(evaluators.spec_of(e), seed=config["seed"])
    return chosen, tta


def dataset_of(config: dict) -> str:
    """The run's dataset, `<builder>/<config>`: `data.dataset` (`data.name` before the rename)."""
    data = config["data"]
    return data["dataset"] if "dataset" in data else data["name"]


def label_policy(config: dict) -> dict:
    """The label policies the run's `data` fields set (`cxr.data.label_space.POLICIES`),
    unset ones left out; `cxr.data.datasets.prepare` passes each to the datasets taking it."""
    data = config["data"]
    chosen = {k: unset_to_none(data.get(k)) for k in label_space.POLICIES}
    return {k: v for k, v in chosen.items() if v is not None}


def unset_to_none(value):
    """Command-line overrides arrive as text: "None" means None."""
    return None if value in (None, "None", "none", "") else value
