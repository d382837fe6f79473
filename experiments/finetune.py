"""finetune: a frozen head first, then the whole network; our recipe, not CheXNet's.

Phase 1 trains the head on cached features (as frozen_head); phase 2 unfreezes the
backbone (`train.unfreeze`: "all" or "last_blocks:N"), lowers the learning rate
to 1e-4 with Adam, divides it by 10 whenever the validation macro AUROC stops
improving, and keeps the best checkpoint by validation macro AUROC. Augmentation
(rotation, zoom, translation, contrast; no flips) applies to phase 2 only.

    make experiment NAME=finetune                     # $CXR14_DIR holds the NIH files
    make experiment NAME=finetune ARGS="--config.train.unfreeze=last_blocks:1"
    make experiment NAME=finetune:smoke               # seconds, synthetic data

How it differs from CheXNet as published (Rajpurkar et al. 2017; `chexnet` is that
recipe, docs/protocols.md compares it row by row):
  - a frozen-head phase first (20 epochs on cached features); CheXNet trains the whole
    network from the start;
  - fine-tuning at lr 1e-4, batch 32; CheXNet: lr 1e-3, batch 16;
  - lr / 10 and the kept model follow the validation macro AUROC; CheXNet: the
    validation loss;
  - small rotations, zooms, shifts and contrast changes, no flips; CheXNet: random
    horizontal flips only;
  - stops after 3 epochs without a better validation AUROC; CheXNet gives no rule.

Runtime: a GPU job on the full dataset (an earlier measurement: about 10 images/s
training at 224 px on 2 CPU cores, so over 2 hours an epoch of 78k images there). Expected result: not measured here.
CheXNet's 0.841 (the mean of its Table 2) was on its own random patient split (20% test),
not on NIH's official test list that this project tests on, so it is no target here.
"""

from cxr.configs import common


def get_config(variant=None):
    c = common.get_config()
    c.name = "finetune"
    c.train.head_epochs = 20
    c.train.finetune_epochs = 10
    c.train.augment = True  # phase 2 only: the head phase trains on cached features
    if variant == "smoke":
        common.smoke(c, 32, 16, 16)
        c.data.batch_size = 16
        c.train.head_epochs, c.train.finetune_epochs = 1, 1
        c.train.unfreeze = "last_blocks:1"
    elif variant is not None:
        raise ValueError(f"finetune has no variant {variant!r}; use finetune or finetune:smoke")
    c.lock()
    return c
