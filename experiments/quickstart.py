"""quickstart: the whole pipeline offline, in minutes, on 2 CPU cores.

    make experiment NAME=quickstart
    make experiment NAME=quickstart:smoke     # seconds, what the tests run

Synthetic data (`cxr14_subset/synthetic`, 128 px, generated on first use) and a
randomly initialised DenseNet121 (no download). Phase 1 shows the frozen-head
path (features computed once, cached, the head trained on them); random
features carry little, so it mostly learns each label's prevalence. Phase 2
then trains the whole network, which is what learns the planted signs. Test
AUROC with CIs, Grad-CAM galleries, localization against the synthetic boxes,
W&B offline.

Runtime and result (measured, see the README's "quickstart" for the numbers):
about 11 minutes on 2 CPU cores, 1 minute per fine-tuning epoch; test macro
AUROC about 0.8, and a pointing game clearly above a random heatmap's.
"""

from experiments import common


def get_config(variant=None):
    c = common.get_config()
    c.name = "quickstart"
    c.data.name = "cxr14_subset/synthetic"
    c.data.cache_images = True  # 1,600 images of 128 px: 26 MB
    c.model.weights = None
    c.train.head_epochs = 10  # random features: the head learns little more than the biases
    c.train.head_learning_rate = 1e-2  # random-init features are small: larger steps
    # From random init, all of the network must learn; 8 epochs of the 1,025 training
    # images (33 steps each) take it from 0.5 to about 0.8 validation macro AUROC.
    c.train.finetune_epochs = 8
    c.train.finetune_learning_rate = 1e-3  # a random backbone has far to go
    c.train.finetune_lr_patience = 2  # validation AUROC is noisy while BatchNorm settles
    c.train.finetune_stop_patience = 8  # never stop early: 8 epochs are few already
    c.train.unfreeze = "all"
    if variant == "smoke":
        common.smoke(c, 32, 16, 16)
        c.data.batch_size = 16
        c.train.head_epochs, c.train.finetune_epochs = 2, 0  # finetune:smoke covers phase 2
    elif variant is not None:
        raise ValueError(
            f"quickstart has no variant {variant!r}; use quickstart or quickstart:smoke"
        )
    c.lock()
    return c
