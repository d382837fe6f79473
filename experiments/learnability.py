"""learnability: DenseNet121 learns the synthetic signs from scratch, offline, in 8 epochs.

    make experiment NAME=learnability
    make experiment NAME=learnability:smoke     # seconds, what the tests run
    make experiment NAME=learnability:permuted  # trained on permuted labels: AUROC ~0.5

`:permuted` is the same run on the training labels permuted across images
(`train.permute_labels_seed`), for Adebayo et al.'s data randomisation test: its AUROC
should be about 0.5. Then, with both runs' ids (docs/protocols.md, "Data randomisation test"):

    make saliency RUN=runs/learnability/<id> ARGS="--permuted-run runs/learnability_permuted/<id>"

What `quickstart` was before it had to fit in minutes: `cxr14_subset/synthetic`
(128 px), a randomly initialised DenseNet121 trained whole for 8 epochs, then test
AUROC with CIs, Grad-CAM galleries and localization on a 4 x 4 map, W&B offline.

There is no frozen-head phase: a random backbone's features carry nothing and
its BatchNorm statistics were never estimated, so a head trained on them only
hinders the network afterwards.

Its results, with the saliency study of the run and of its `:permuted` twin:
docs/results.md ("learnability"), from docs/results/learnability/.
"""

from cxr.configs import common


def get_config(variant=None):
    c = common.get_config()
    c.name = "learnability"
    c.data.dataset = "cxr14_subset/synthetic"
    c.data.cache_images = True  # 1,600 images of 128 px: 26 MB
    # Twice the steps of 32 in the same time on a CPU: 0.76 validation macro AUROC after
    # 3 epochs instead of 0.68, 0.826 test macro AUROC after 8 instead of 0.801.
    c.data.batch_size = 16
    c.model.weights = None
    c.train.head_epochs = 0  # see above: no frozen-head phase from random init
    # 8 epochs of the 1,025 training images (65 steps each) take validation macro
    # AUROC from 0.5 to about 0.84.
    c.train.finetune_epochs = 8
    c.train.finetune_learning_rate = 1e-3  # Adam; a random network has far to go
    c.train.finetune_lr_patience = 2  # validation AUROC is noisy while BatchNorm settles
    c.train.finetune_stop_patience = 8  # never stop early: 8 epochs are few already
    c.train.unfreeze = "all"
    # Fixed, not "auto": the numbers above were measured so, and reruns repeat them
    # bit for bit (XLA turns TensorFlow's op determinism off).
    c.speed.xla, c.speed.precision = "off", "float32"
    if variant == "smoke":
        common.smoke(c, 32, 16, 16)
        c.train.finetune_epochs = 1
    elif variant == "permuted":  # Adebayo et al.'s data randomisation test (docs/protocols.md)
        c.name = "learnability_permuted"  # its own runs/ folder and W&B group
        c.train.permute_labels_seed = 0
    elif variant is not None:
        raise ValueError(
            f"learnability has no variant {variant!r}; use learnability, learnability:smoke or "
            f"learnability:permuted"
        )
    c.lock()
    return c
