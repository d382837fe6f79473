"""Shared defaults of every experiment; an experiment file changes only what differs.

Every field is documented where it is declared. Override any of them on the
command line: `make experiment NAME=frozen_head ARGS="--config.train.head_epochs=5"`.
"""

import ml_collections
from ml_collections import config_dict


def get_config() -> ml_collections.ConfigDict:
    """The defaults (unlocked, so an experiment can adjust them before locking)."""
    c = ml_collections.ConfigDict()
    c.name = ""  # experiment name: runs/<name>/, W&B group and tag; set by each experiment
    c.seed = 0  # seeds Keras (weights init, dropout), shuffling and augmentation
    c.runs_dir = "runs"  # every run writes runs/<name>/<run id>/
    # An existing run id resumes that run after its last completed epoch; None starts a new one.
    c.run_id = config_dict.placeholder(str)
    # Data-parallel training (cxr/runtime/distribution.py): "auto" uses every device of each process
    # (JAX DataParallel, TensorFlow MirroredStrategy; several machines via TF_CONFIG or
    # KERAS_DISTRIBUTION_*, see the README's "Scaling out"), "none" one device and no
    # strategy, a number N the first N devices of each process. data.batch_size and
    # train.head_batch_size are global (all devices together) and must divide evenly over
    # the devices; the learning rates are used as given for that global batch, so 1 or N
    # devices take the same optimizer steps. Scale them yourself if you raise the batch.
    c.distribution = "auto"
    # Precision and XLA (cxr/runtime/speed.py). "auto": whatever trains faster on this machine, as a
    # short probe measured it (once per machine, cached in ~/.cache/cxr/speed/); the run
    # prints what it chose and why. On TensorFlow, XLA turns op determinism off (Keras
    # refuses XLA under it), so reruns are bit-for-bit repeatable only with xla "off".
    c.speed = ml_collections.ConfigDict()
    c.speed.xla = "auto"  # "auto", "on" or "off" (jit_compile; JAX always compiles: off is on)
    c.speed.precision = "auto"  # "auto", "float32", "mixed_bfloat16" or "mixed_float16"

    c.data = _data()

    c.model = ml_collections.ConfigDict()
    # The network under the head: a name from cxr/model/backbones/ (each entry states
    # its weights file, preprocessing and blocks). A saved run without it is densenet121.
    c.model.backbone = "densenet121"
    # "imagenet" (Keras's download), a local .h5/.weights.h5 file of the backbone's notop
    # weights (its registry entry names the file), or None (random init). Offline, pass
    # the local file.
    c.model.weights = config_dict.FieldReference("imagenet", field_type=str)
    c.model.dropout = 0.0  # before the logits; CheXNet used none

    c.train = _train()

    c.eval = _eval()

    c.wandb = ml_collections.ConfigDict()
    c.wandb.project = "cxr"
    # "online", "offline" or "disabled"; None: $WANDB_MODE, else online when logged in.
    c.wandb.mode = config_dict.placeholder(str)
    return c


def _data() -> ml_collections.ConfigDict:
    """The `data` fields."""
    data = ml_collections.ConfigDict()
    # The dataset trained and evaluated on: <builder>/<config> of a registered builder
    # (cxr_tfds/registry.py; docs/data.md lists them and their findings), e.g.
    # "cxr_chexpert/224". Saved runs from before this field called it data.name.
    data.dataset = "cxr14_subset/224"
    # Label policies, each passed to the datasets whose labels module takes it (the
    # registry's `policies`); None: that dataset's own default (docs/data.md).
    # CheXpert's uncertain labels: "u_ignore" (unknown), "u_zeros", "u_ones" or "paper_best".
    data.uncertain = config_dict.placeholder(str)
    data.blank = config_dict.placeholder(str)  # CheXpert's blanks: "negative" or "unknown"
    data.readers = config_dict.placeholder(str)  # VinDr's 3 readers: "any", "majority", "all"
    data.data_dir = config_dict.placeholder(str)  # TFDS data dir; None: ~/tensorflow_datasets
    data.manual_dir = config_dict.placeholder(
        str
    )  # the release's files; None: TFDS manual dir (cxr14_subset: then $CXR14_DIR)
    data.train_split = "train"  # any TFDS split expression, e.g. "train[:10%]"
    data.val_split = "validation"
    data.test_split = "test"
    data.batch_size = 32  # images per batch when images go through the network
    data.shuffle_buffer = 2048  # examples; TFDS stores examples shuffled already
    data.cache_images = False  # keep decoded images in RAM between epochs (small subsets)
    return data


def _train() -> ml_collections.ConfigDict:
    """The `train` fields."""
    train = ml_collections.ConfigDict()
    # Phase 1: the sigmoid head on a frozen backbone.
    train.head_epochs = 30  # cheap on cached features
    train.head_learning_rate = 1e-3  # Adam
    train.head_batch_size = 256  # feature vectors per batch when training on the cache
    # Epochs on cached features take milliseconds: be patient before lr /= 10 or stopping.
    train.head_lr_patience = 5
    train.head_stop_patience = 15
    # Computes pooled features once per split and trains the head on them. The head phase
    # never augments, so this holds whatever train.augment says; False sends every head
    # epoch through the frozen backbone (the run prints what that costs).
    train.feature_cache = True
    train.feature_cache_dir = config_dict.placeholder(str)  # None: ~/.cache/cxr/features
    # Phase 2: fine-tuning, from the best head if phase 1 ran (Adam, lr / 10 on plateau).
    train.finetune_epochs = 0  # 0 skips the phase
    train.finetune_learning_rate = 1e-4
    train.unfreeze = "all"  # "all" or "last_blocks:N" (the backbone's last N blocks, per its entry)
    train.finetune_lr_patience = 1  # epochs without a better train.monitor before lr /= 10
    train.finetune_stop_patience = 3  # ... before stopping
    # Both phases:
    # The validation metric behind lr / 10, early stopping and the best model (model.keras):
    # "val/macro_auroc" (higher is better) or "val/loss" (the training loss on the whole
    # validation split, lower is better; CheXNet's choice).
    train.monitor = "val/macro_auroc"
    train.pos_weight = False  # weight each label's positives by N_neg / N_pos of train
    # Train-time augmentation, only in the phase that trains the backbone (finetune); never
    # on the frozen head (its features are cached) nor on validation or test.
    train.augment = False
    train.rotation = 0.02  # fraction of a full turn (0.02 = +-7 degrees)
    train.zoom = 0.1  # +-10%
    train.translation = 0.05  # +-5% of the side
    train.contrast = 0.1  # +-10%
    train.flip = False  # off: anatomy is lateralised (the heart is on the left)
    # Adebayo et al.'s data randomisation test: an int permutes the training split's label
    # rows across its images with that seed (images unchanged; validation and test keep
    # their labels, so the run's AUROC should be ~0.5). None trains on the true labels.
    train.permute_labels_seed = config_dict.placeholder(int)
    return train


def _eval() -> ml_collections.ConfigDict:
    """The `eval` fields."""
    eval = ml_collections.ConfigDict()
    # Test-time augmentation: test and validation probabilities averaged over the image and
    # its mirror image (tta_flip) and a central crop of this fraction of the side resized
    # back (tta_crop, 0 off); Grad-CAM explains the plain image. Off: on the quickstart
    # neither moved test macro AUROC beyond its paired CI (README, "Augmentation").
    eval.tta_flip = False
    eval.tta_crop = 0.0
    eval.num_bootstrap = 1000  # patient-level bootstrap resamples for the 95% CIs
    eval.gallery_per_kind = (
        8  # Grad-CAM gallery: true positives, false positives, false negatives per label
    )
    # The evaluators of the test split (cxr/evaluation/evaluators/), big_vision style: a
    # name -> dict(type=<registered evaluator, default the name>, <its settings>). They run
    # in the order of their names. num_bootstrap and gallery_per_kind above feed the
    # defaults (linked: setting either sets its evaluator's field). Add one with a line in
    # an experiment, e.g. c.eval.evaluators.calibration = dict(type="calibration", bins=10);
    # drop one with `del c.eval.evaluators["galleries"]`.
    eval.evaluators = ml_collections.ConfigDict(
        {
            # ECE, MCE, Brier before and after temperature scaling fitted on validation;
            # the temperatures that `cxr predict --calibrated` applies.
            "calibration": dict(type="calibration", num_bootstrap=eval.get_ref("num_bootstrap")),
            "classification": dict(
                type="classification", num_bootstrap=eval.get_ref("num_bootstrap")
            ),
            "galleries": dict(type="galleries", per_kind=eval.get_ref("gallery_per_kind")),
            "localization": dict(type="localization"),
            # Per-subgroup AUROC and underdiagnosis; skipped where the data has no sex/age/view.
            "subgroups": dict(type="subgroups", num_bootstrap=eval.get_ref("num_bootstrap")),
        }
    )
    return eval


def smoke(c: ml_collections.ConfigDict, train: int, val: int, test: int) -> None:
    """Turns `c` into its seconds-long variant: a few synthetic images, the tiny backbone.

    Smoke runs write under runs/smoke/, apart from real runs.

    Args:
        c: the experiment's config, before locking.
        train, val, test: images taken from the start of each split.
    """
    c.data.dataset = "cxr14_subset/synthetic"
    c.runs_dir = "runs/smoke"
    c.data.train_split, c.data.val_split = f"train[:{train}]", f"validation[:{val}]"
    c.data.test_split = f"test[:{test}]"
    c.model.weights = None
    c.model.backbone = "tiny"  # seconds, not minutes: smoke runs check wiring, not a network
    c.speed.xla, c.speed.precision = "off", "float32"  # no probe in seconds-long runs
    c.eval.num_bootstrap = 50
    c.eval.gallery_per_kind = 2
