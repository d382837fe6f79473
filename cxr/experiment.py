"""Runs a named experiment: `python -m cxr.experiment NAME[:variant] [--config.x.y=value ...]`.

`make experiment NAME=frozen_head ARGS="--config.train.head_epochs=5"` calls this.
The experiment's config (experiments/NAME.py) is locked, so a misspelt override
fails loudly. This is the only module that reads configs; the library below it
takes plain arguments.
"""

import importlib
import json
import pathlib
import pkgutil
import sys
import time

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags, logging
from ml_collections import config_flags

import experiments
from cxr import data, evaluate, features, gallery, gradcam, localization, tracking, train
from cxr import model as model_lib
from cxr import report as report_lib


def available() -> list[str]:
    """Names of the experiments in experiments/."""
    return sorted(m.name for m in pkgutil.iter_modules(experiments.__path__) if m.name != "common")


def load_config(spec: str):
    """The locked config of `NAME` or `NAME:variant`.

    Raises:
        SystemExit: for an unknown NAME, listing the available ones.
    """
    name, _, variant = spec.partition(":")
    if name not in available():
        raise SystemExit(f"error: unknown experiment {name!r}; available: {', '.join(available())}")
    return importlib.import_module(f"experiments.{name}").get_config(variant or None)


def _none(value):
    """Command-line overrides arrive as text: "None" means None."""
    return None if value in (None, "None", "none", "") else value


def run(config) -> pathlib.Path:
    """Trains, evaluates and records one experiment; returns its run directory."""
    # --- Run directory: new, or the one named by run_id (resume) -------------------
    backend = keras.backend.backend()
    if backend == "tensorflow":
        tf.config.experimental.enable_op_determinism()  # same seed, same run
    run_dir = pathlib.Path(config.runs_dir) / config.name / str(config.run_id)
    if config.run_id and run_dir.exists():
        print(f"Resuming run {run_dir}")
    else:
        run_dir = tracking.create_run_dir(
            config.name, config.to_dict(), config.runs_dir, config.run_id
        )
    state = train.load_state(run_dir)
    wandb_run = tracking.init_wandb(
        config.to_dict(),
        name=f"{config.name}/{run_dir.name}",
        run_dir=run_dir,
        tags=(config.name, backend, config.data.name),
        group=config.name,
        mode=_none(config.wandb.mode),
        project=config.wandb.project,
        run_id=run_dir.name,
    )
    if state:  # a kill may have logged an epoch it did not checkpoint
        tracking.truncate_metrics(run_dir / tracking.METRICS_FILE, state["phase"], state["epoch"])

    def log_callbacks(phase):
        return [
            tracking.JsonlMetricsCallback(run_dir / tracking.METRICS_FILE, {"phase": phase}),
            tracking.WandbMetricsCallback(wandb_run, {"phase": phase}),
        ]

    # --- Data -------------------------------------------------------------------------
    builder = data.prepare(
        config.data.name, _none(config.data.data_dir), _none(config.data.manual_dir)
    )
    # Seeded after the build, which may draw from the global generators: a run that
    # builds the dataset first then starts from the same weights as one that finds it built.
    keras.utils.set_random_seed(config.seed)
    label_names = data.label_names(builder.info)
    image_size = builder.info.features["image"].shape[0]
    d = config.data

    def images(split, epochs=None, augment=None):
        """Batches of a split: one ordered pass, or training batches over `epochs`."""
        return data.batches(
            builder,
            split,
            d.batch_size,
            epochs is not None,
            augment,
            d.cache_images,
            d.shuffle_buffer,
            config.seed,
            epochs or range(1),
        )

    val_images = images(d.val_split)
    val_labels = np.concatenate([y for _, y in val_images])
    train_labels = np.concatenate([y for _, y in images(d.train_split)])
    pos_weight = train.positive_weights(train_labels) if config.train.pos_weight else None
    augment = _augmenter(config) if config.train.augment else None
    steps = data.num_batches(builder, d.train_split, d.batch_size)

    # --- Model ------------------------------------------------------------------------
    model = model_lib.build_model(
        len(label_names),
        image_size,
        _none(config.model.weights),
        config.model.dropout,
        trainable="head",
    )
    t = config.train
    common = dict(run_dir=run_dir, label_names=label_names, pos_weight=pos_weight)

    def phase_args(phase):
        """fit_phase arguments of `head` or `finetune`, from the train.<phase>_* fields."""
        return dict(
            common,
            phase=phase,
            epochs=t[f"{phase}_epochs"],
            learning_rate=t[f"{phase}_learning_rate"],
            lr_patience=t[f"{phase}_lr_patience"],
            stop_patience=t[f"{phase}_stop_patience"],
            callbacks=log_callbacks(phase),
        )

    def fit_on_images(phase, resume):
        """Fits the full model on image batches (the backbone frozen or not), resumable."""
        epochs = range(resume["epoch"] if resume else 0, t[f"{phase}_epochs"])
        train.fit_phase(
            model,
            images(d.train_split, epochs, augment),
            val_images,
            val_labels,
            steps_per_epoch=steps,
            resume=resume,
            **phase_args(phase),
        )

    # --- Phase 1: the head on a frozen backbone -------------------------------------
    head_done = state and (state["phase"] != "head" or state["done"])
    if t.head_epochs and not head_done:
        resume = state if state and state["phase"] == "head" else None
        if t.feature_cache and augment is None:
            _head_on_cached_features(
                model, builder, config, images, val_labels, resume, phase_args("head")
            )
        else:
            if t.feature_cache:
                print(
                    "Feature cache off: augmentation is on, so the backbone must see every new view."
                )
            fit_on_images("head", resume)
        state = train.load_state(run_dir)

    # --- Phase 2: fine-tuning from the best head -------------------------------------
    if t.finetune_epochs and not (state and state["phase"] == "finetune" and state["done"]):
        resume = state if state and state["phase"] == "finetune" else None
        if not resume and (run_dir / tracking.MODEL_FILE).exists():
            model.load_weights(run_dir / tracking.MODEL_FILE)
        model_lib.set_trainable(model, t.unfreeze)
        fit_on_images("finetune", resume)

    # --- Test: the best model, evaluated --------------------------------------------
    model.load_weights(run_dir / tracking.MODEL_FILE)
    test = data.split_metadata(builder, d.test_split)
    test_probs = _probabilities(model, images(d.test_split))
    official = not builder.builder_config.synthetic_patients and d.test_split == "test"
    report = evaluate.evaluate(
        test_probs,
        test["labels"],
        test["patient_id"],
        _probabilities(model, val_images),
        val_labels,
        label_names,
        config.eval.num_bootstrap,
        config.seed,
        official,
    )
    eval_dir = run_dir / tracking.EVAL_DIR
    report_lib.write_report(report, eval_dir)
    report_lib.log_report(wandb_run, report, eval_dir)

    # --- Grad-CAM: galleries and measured localization ---------------------------------
    gray = data.decode_images(test["png"])

    def heatmaps(indices, classes):
        return gradcam.gradcam(
            model, np.asarray(data.preprocess(gray[indices][..., None])), classes
        )

    gallery.write_galleries(
        run_dir / "gradcam",
        gray,
        test_probs,
        test["labels"],
        heatmaps,
        test["boxes"],
        test["box_labels"],
        label_names,
        config.eval.gallery_per_kind,
        wandb_run,
        test["image_id"],
    )
    boxed = [
        (i, box, k)
        for i, (boxes, ks) in enumerate(zip(test["boxes"], test["box_labels"], strict=True))
        for box, k in zip(boxes, ks, strict=True)
    ]
    localization_text = "No NIH box in this test split: no localization measured."
    if boxed:
        index, boxes, classes = (np.array(column) for column in zip(*boxed, strict=True))
        table = localization.localization_table(
            heatmaps(index, classes), boxes, classes, label_names, seed=config.seed
        )
        (eval_dir / "localization.json").write_text(
            json.dumps(report_lib.json_safe(table), indent=2)
        )
        tracking.log_localization(wandb_run, table)
        localization_text = localization.format_localization_table(table)
        localization_text += "\n" + localization.format_pointing_summary(table)

    # --- Report -----------------------------------------------------------------------
    tracking.log_model_artifact(wandb_run, run_dir / tracking.MODEL_FILE)
    print(report_lib.format_report(report))
    print(
        f"Localization of {len(boxed)} test boxes (Grad-CAM; random heatmap in brackets; "
        f"pointing_tol: within {localization.POINTING_TOLERANCE:.3f} of the side, Zhang et al.'s "
        "15 px at 224 px):"
    )
    print(localization_text)
    tracking.finish_run(run_dir, wandb_run)
    return run_dir


def _probabilities(model, batches) -> np.ndarray:
    """Sigmoid probabilities of the model's logits over one ordered pass, with a progress bar."""
    return keras.ops.convert_to_numpy(keras.ops.sigmoid(model.predict(batches, verbose=1)))


def _head_on_cached_features(model, builder, config, images, val_labels, resume, head_args):
    """Phase 1 the fast way: features once per split (cached on disk), then the head."""
    d, t = config.data, config.train
    extractor = model_lib.feature_extractor(model)
    cache_dir = _none(t.feature_cache_dir) or features.DEFAULT_CACHE_DIR
    start = time.perf_counter()
    split_features = {}
    for split in (d.train_split, d.val_split):
        path = features.cache_file(cache_dir, builder, split, extractor)
        print(f"Features of {split}: {'cached' if path.exists() else 'computing'} ({path})")
        split_features[split] = features.split_features(
            extractor, images(split), data.num_batches(builder, split, d.batch_size), path
        )
    fill_seconds = time.perf_counter() - start
    train_x, train_y = split_features[d.train_split]
    history = train.fit_phase(
        model_lib.head_model(model),
        train.ShuffledArrays(
            train_x, train_y, t.head_batch_size, config.seed, resume["epoch"] if resume else 0
        ),
        split_features[d.val_split][0],
        val_labels,
        best_model=model,
        resume=resume,
        **head_args,
    )
    seconds = history.history.get("epoch_seconds", [])
    if len(seconds) >= 2 and not resume:
        first, second = fill_seconds + seconds[0], seconds[1]
        print(
            f"Head epoch 1 (filling the feature cache): {first:.2f} s; epoch 2 (from the "
            f"cache): {second:.3f} s; {first / second:.0f}x faster"
        )


def _augmenter(config):
    """Train-time augmentation from core Keras layers, on [0, 255] gray batches.

    Applied layer by layer, not as a `keras.Sequential`: each preprocessing layer
    switches itself to TensorFlow ops inside tf.data, whatever the Keras backend,
    but a Sequential model around them would not.
    """
    t = config.train
    layers = [
        keras.layers.RandomRotation(t.rotation, fill_mode="constant", seed=config.seed),
        keras.layers.RandomZoom(t.zoom, fill_mode="constant", seed=config.seed),
        keras.layers.RandomTranslation(
            t.translation, t.translation, fill_mode="constant", seed=config.seed
        ),
        keras.layers.RandomContrast(t.contrast, seed=config.seed),
    ]
    if t.flip:
        layers.insert(0, keras.layers.RandomFlip("horizontal", seed=config.seed))

    def augment(images):
        for layer in layers:
            images = layer(images)
        return images

    return augment


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        raise SystemExit(
            f"usage: python -m cxr.experiment NAME[:variant] [--config.x=y ...]; "
            f"NAME is one of: {', '.join(available())}"
        )
    config = load_config(sys.argv[1])
    config_flags.DEFINE_config_dict("config", config, lock_config=True)

    def run_from_flags(argv):
        logging.set_verbosity(logging.WARNING)  # TFDS's INFO lines would drown the progress bars
        run(flags.FLAGS.config)

    app.run(run_from_flags, argv=[sys.argv[0], *sys.argv[2:]])


if __name__ == "__main__":
    main()
