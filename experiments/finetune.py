"""finetune: the CheXNet recipe, starting from the frozen head.

Phase 1 trains the head on cached features (as frozen_head); phase 2 unfreezes the
backbone (`train.unfreeze`: "all" or "last_blocks:N"), lowers the learning rate
to 1e-4 with Adam, divides it by 10 whenever the validation macro AUROC stops
improving, and keeps the best checkpoint by validation macro AUROC.

    make experiment NAME=finetune                     # $CXR14_DIR holds the NIH files
    make experiment NAME=finetune ARGS="--config.train.unfreeze=last_blocks:1"
    make experiment NAME=finetune:smoke               # seconds, synthetic data

Runtime: a GPU job on the full dataset (about 10 images/s training at 224 px on 2
CPU cores: 8 hours an epoch of 78k images there). Expected result: CheXNet reports
0.841 macro AUROC on the official test list; not measured here.
"""

from cxr.configs import common


def get_config(variant=None):
    c = common.get_config()
    c.name = "finetune"
    c.train.head_epochs = 20
    c.train.finetune_epochs = 10
    c.train.augment = True
    if variant == "smoke":
        common.smoke(c, 32, 16, 16)
        c.data.batch_size = 16
        c.train.head_epochs, c.train.finetune_epochs = 1, 1
        c.train.unfreeze = "last_blocks:1"
    elif variant is not None:
        raise ValueError(f"finetune has no variant {variant!r}; use finetune or finetune:smoke")
    c.lock()
    return c
