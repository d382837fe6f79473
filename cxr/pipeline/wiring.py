"""What a run's saved config sets up for training and for a re-evaluation alike.

    wandb_run = wiring.start_wandb(config, run=run_dir)                        # training
    wandb_run = wiring.start_wandb(config, run=run, evaluation=(dataset, split))  # cxr evaluate
    chosen, tta = wiring.evaluation_setup(config)

`config` is the run's config as a dict (`ConfigDict.to_dict()`, or `RunDir.config()`
of a saved run), so `cxr experiment` and `cxr evaluate` read the same fields the same way.
"""

import keras

from cxr.data import augment
from cxr.evaluation import evaluators
from cxr.tracking import wandb_logging
from cxr.tracking.rundir import RunDir


def start_wandb(config: dict, *, run: RunDir, evaluation=None, chief=True):
    """The W&B run of a training, or of a re-evaluation of (dataset, split), in the run's group.

    A training logs as the run itself (W&B id = run id, so a resumed run continues it);
    a re-evaluation is a new `eval` job whose files go to its evaluation folder.

    Args:
        config: the run's config as a dict.
        run: the run directory.
        evaluation: (dataset, split) of a re-evaluation; None for the training.
        chief: False in every process but the chief, which alone logs.

    Returns:
        The `wandb` run, or None when W&B is off.
    """
    name, wandb = config["name"], config.get("wandb", {})
    mode = unset_to_none(wandb.get("mode")) if chief else "disabled"
    common = dict(group=name, mode=mode, project=wandb.get("project", "cxr"))
    backend = keras.backend.backend()
    if evaluation is None:
        return wandb_logging.init_wandb(
            config=config,
            name=f"{name}/{run.name}",
            run_dir=run.path,
            tags=(name, backend, config["data"]["name"]),
            run_id=run.name,
            **common,
        )
    dataset, split = evaluation
    return wandb_logging.init_wandb(
        config={**config, "eval": {**config.get("eval", {}), "dataset": dataset, "split": split}},
        name=f"{name}/{run.name}/eval {dataset} {split}",
        run_dir=run.evaluation(dataset, split).path,
        tags=(name, backend, dataset, "eval"),
        job_type="eval",
        **common,
    )


def evaluation_setup(config: dict):
    """The evaluators and test-time-augmentation views the run's `eval` fields ask for.

    Args:
        config: the run's config as a dict.

    Returns:
        (evaluators, tta): the list for `cxr.pipeline.evaluate.evaluate` and its `tta`
        argument ({"flip": bool, "crop": fraction}), checked by `augment.tta_views`.

    Raises:
        UserError: for a bad `eval.tta_crop`.
    """
    e = config["eval"]
    tta = {"flip": e.get("tta_flip", False), "crop": e.get("tta_crop", 0.0)}
    augment.tta_views(**tta)
    chosen = evaluators.default(
        num_bootstrap=e["num_bootstrap"],
        seed=config["seed"],
        gallery_per_kind=e["gallery_per_kind"],
    )
    return chosen, tta


def unset_to_none(value):
    """Command-line overrides arrive as text: "None" means None."""
    return None if value in (None, "None", "none", "") else value
