"""Runs a named experiment from its locked config: trains, evaluates and records it.

`cxr experiment NAME[:variant] [--config.x.y=value ...]` reads the command line into
that config first (`cxr.pipeline.experiment_config`, before any framework starts), then
calls `run`. These two are the only modules that read configs; the library below them
takes plain arguments.
"""

import shutil

import keras
import tensorflow as tf

from cxr.data import augment, datasets
from cxr.model import classifier
from cxr.pipeline import evaluate, experiment_config, wiring
from cxr.pipeline.wiring import unset_to_none
from cxr.runtime import distribution, speed
from cxr.tracking import wandb_logging
from cxr.tracking.rundir import RunDir
from cxr.train import feature_cache, loop, phases


def run(config) -> RunDir:
    """Trains, evaluates and records one experiment; returns its run directory.

    With several processes every one runs the same program; the chief's run directory
    is the record, the others' are scratch copies removed at the end (`cxr.runtime.distribution`).
    """
    # --- Devices first: multi-host engines start before any computation --------------
    d, t = config.data, config.train
    dist = distribution.setup(
        config.distribution,
        batch_sizes={"data.batch_size": d.batch_size, "train.head_batch_size": t.head_batch_size},
    )
    print(dist.line(batch_size=d.batch_size, head_batch_size=t.head_batch_size))
    with dist.scope():  # the model is built, compiled, fitted and evaluated in it
        run_dir = _run(config, dist)
    if not dist.is_chief:
        shutil.rmtree(run_dir.path, ignore_errors=True)
    return run_dir


def _run(config, dist) -> RunDir:
    """`run` in the scope of `dist`: this process's run directory (or scratch copy)."""
    backend = keras.backend.backend()
    run_dir = RunDir.locate(dist.runs_dir(config.runs_dir), config.name, config.run_id)
    resuming = config.run_id is not None and run_dir.path.exists()
    d = config.data

    # --- Data, then the model: bad settings, missing weights or data fail first --------
    builder, label_names, augmenter, choice, model = _prepare(config, run_dir if resuming else None)

    # --- Run directory and W&B: only now, after everything bad input can break ----------
    if resuming:
        print(f"Resuming run {run_dir}")
    else:
        speed_used = {"xla": choice.xla, "precision": choice.precision}
        record = {"backend": backend, "speed_used": speed_used, "preprocessing_in_model": True}
        run_dir.create({**config.to_dict(), **record})
    job = wiring.start_wandb(config.to_dict(), run=run_dir, chief=dist.is_chief)
    with wandb_logging.finishing(job) as wandb_run:  # an error still finishes it, as failed
        # --- Train ----------------------------------------------------------------------
        warning = experiment_config.untrained_backbone_warning(config)
        if warning:
            print(warning, flush=True)
        loop.train(
            model=model,
            run=run_dir,
            data=_train_data(config, builder, label_names),
            phases=_phases(config, augmenter, builder),
            epoch_logs=wandb_logging.epoch_logs(run_dir, wandb_run),
            dist=dist,
            jit_compile=choice.xla,
        )

        # --- Evaluate: the best model on the test split ---------------------------------
        model.load_weights(run_dir.model_file)
        chosen, tta = wiring.evaluation_setup(config.to_dict())
        evaluate.evaluate(
            model=model,
            builder=builder,
            split=d.test_split,
            val_split=d.val_split,
            eval_dir=run_dir.evaluation(),
            evaluators=chosen,
            batch_size=d.batch_size,
            tta=tta,
            wandb_run=wandb_run,
            val_dir=run_dir.evaluation(d.dataset, d.val_split),
        )
        wandb_logging.log_model_artifact(wandb_run, run_dir.model_file)
    print(f"Run files: {run_dir}")
    return run_dir


def _prepare(config, resumed: RunDir | None):
    """Checks every setting, builds the data, then the model; nothing is written yet.

    Returns:
        The builder, its label names, the augmenter (or None), the speed choice and the model.
    """
    d, t, e = config.data, config.train, config.eval
    policy = wiring.label_policy(config.to_dict())
    builder = datasets.find(d.dataset, unset_to_none(d.data_dir), policy)
    label_names = datasets.label_names(builder.info)
    backbone = config.model.backbone
    classifier.check_trainable(t.unfreeze, backbone)
    phases.monitor(t.monitor)  # a misspelt metric fails before any side effect
    classifier.check_weights(unset_to_none(config.model.weights), backbone)  # before a long build
    augmenter = _augmenter(config) if t.augment else None
    augment.tta_views(flip=e.tta_flip, crop=e.tta_crop)
    datasets.build(builder, unset_to_none(d.manual_dir))
    for split in (d.train_split, d.val_split, d.test_split):
        datasets.check_split(builder, split)
    choice = _speed(config, resumed)
    # Seeded after the build, which may draw from the global generators: the same weights
    # whether or not the data was built first.
    keras.utils.set_random_seed(config.seed)
    model = classifier.build_model(
        backbone=backbone,
        num_labels=len(label_names),
        image_size=datasets.image_size(builder),
        weights=unset_to_none(config.model.weights),
        dropout=config.model.dropout,
    )
    return builder, label_names, augmenter, choice, model


def _speed(config, resumed: RunDir | None):
    """Precision and XLA of this run, set up for it: a resumed run keeps what it used.

    A mixed_float16 optimizer keeps other variables (loss scaling) than a float32 one,
    so a checkpoint resumes only under the precision that wrote it.
    """
    xla, precision = config.speed.xla, config.speed.precision
    if resumed is not None and "speed_used" in resumed.config():
        saved = resumed.config()["speed_used"]
        xla, precision = ("on" if saved["xla"] else "off"), saved["precision"]
    choice = speed.choose(xla, precision)
    if keras.backend.backend() == "tensorflow" and not choice.xla:
        tf.config.experimental.enable_op_determinism()  # same seed, same run (per machine)
    keras.mixed_precision.set_global_policy(choice.precision)  # the logits stay float32
    return choice


def _train_data(config, builder, label_names) -> loop.Data:
    """The splits the phases train and validate on, from the data.* fields."""
    d = config.data
    return loop.Data(
        builder=builder,
        label_names=label_names,
        train_split=d.train_split,
        val_split=d.val_split,
        batch_size=d.batch_size,
        seed=config.seed,
        shuffle_buffer=d.shuffle_buffer,
        cache_images=d.cache_images,
        permute_labels_seed=unset_to_none(config.train.permute_labels_seed),
    )


def _phases(config, augmenter, builder) -> list[phases.Phase]:
    """The two training phases from the train.* fields; what an unusual choice costs.

    The head phase (frozen backbone) trains on the feature cache and never augments: a
    frozen backbone gives the same features every epoch, and augmentation would only
    force each epoch through it. Augmentation applies to the phase that trains the backbone.
    """
    t = config.train
    monitor = phases.monitor(t.monitor)
    cache_dir = _feature_cache_dir(t)
    if t.head_epochs and cache_dir is None:
        images = builder.info.splits[config.data.train_split].num_examples
        print(
            f"train.feature_cache=False: the head phase sends {t.head_epochs} x {images:,} "
            f"images through the frozen backbone, {t.head_epochs}x the one pass that fills "
            f"the feature cache (which later runs with these weights skip)"
        )
    if t.augment and not t.finetune_epochs:
        print(
            "train.augment=True changes nothing here: augmentation applies only where the "
            "backbone trains, and train.finetune_epochs=0"
        )
    head = phases.Phase(
        "head",
        epochs=t.head_epochs,
        learning_rate=t.head_learning_rate,
        lr_patience=t.head_lr_patience,
        stop_patience=t.head_stop_patience,
        batch_size=t.head_batch_size if cache_dir is not None else config.data.batch_size,
        feature_cache_dir=cache_dir,
        pos_weight=t.pos_weight,
        monitor=monitor,
    )
    finetune = phases.Phase(
        "finetune",
        epochs=t.finetune_epochs,
        learning_rate=t.finetune_learning_rate,
        lr_patience=t.finetune_lr_patience,
        stop_patience=t.finetune_stop_patience,
        batch_size=config.data.batch_size,
        trainable=t.unfreeze,
        augment=augmenter,
        pos_weight=t.pos_weight,
        monitor=monitor,
    )
    return [head, finetune]


def _feature_cache_dir(t):
    return (
        (unset_to_none(t.feature_cache_dir) or feature_cache.DEFAULT_CACHE_DIR)
        if t.feature_cache
        else None
    )


def _augmenter(config):
    t = config.train
    return augment.augmenter(
        rotation=t.rotation,
        zoom=t.zoom,
        translation=t.translation,
        contrast=t.contrast,
        flip=t.flip,
        seed=config.seed,
    )
