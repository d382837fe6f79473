"""quickstart: the whole pipeline offline, in minutes, on 2 CPU cores.

    make experiment NAME=quickstart
    make experiment NAME=quickstart:smoke     # seconds, what the tests run

Synthetic data (`cxr14_subset/synthetic`, 128 px, generated on first use), a
randomly initialised DenseNet121 (no download), a head trained on cached features,
then a short fine-tuning of the last dense block, test AUROC, W&B offline.

Runtime and result: see the README ("quickstart").
"""

from experiments import common


def get_config(variant=None):
    c = common.get_config()
    c.name = "quickstart"
    c.data.name = "cxr14_subset/synthetic"
    c.data.cache_images = True  # 1,600 images of 128 px: 26 MB
    c.model.weights = None
    c.train.head_epochs = 100
    c.train.head_learning_rate = 1e-2  # random-init features are small: larger steps
    c.train.finetune_epochs = 3
    c.train.finetune_learning_rate = 1e-3  # a random backbone has far to go
    c.train.finetune_lr_patience = 2
    c.train.unfreeze = "last_blocks:2"
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
