"""backbones: one short offline run on any registered backbone, the seam end to end.

    make experiment NAME=backbones:efficientnetv2b0 ARGS="--config.model.weights=None"
    make experiment NAME=backbones:convnexttiny     # with its ImageNet weights (downloaded)
    make experiment NAME=backbones:smoke            # the tiny test network, seconds

The variant names the backbone (`cxr/model/backbones/`, one file per family: each entry
states its preprocessing, ImageNet weights file, feature width, what a block is and its
native input size). The run is a smoke-sized finetune on `cxr14_subset/synthetic`
(128 px, offline): the head on cached features for an epoch, then the backbone's last
block for an epoch, then the whole evaluation, Grad-CAM galleries on the backbone's
feature map and W&B, so every stage is seen working on that network. Its model loads
in `cxr predict` and `make evaluate` like any run's. Offline, ImageNet weights cannot be
downloaded: pass `--config.model.weights=None` or the local file the entry names.

To compare backbones on real data, run any experiment with
`--config.model.backbone=<name>` (e.g. `frozen_head`); each backbone keeps its own
feature cache.
"""

from cxr.configs import common


def get_config(variant=None):
    c = common.get_config()
    c.name = "backbones"
    common.smoke(c, 32, 16, 16)
    c.data.batch_size = 16
    c.train.head_epochs, c.train.finetune_epochs = 1, 1
    c.train.unfreeze = "last_blocks:1"
    if variant in (None, "smoke"):
        pass  # smoke's tiny network
    elif variant.isidentifier():  # a backbone name; `cxr experiment` checks it is registered
        c.model.backbone = variant
        c.model.weights = "imagenet"
    else:
        raise ValueError(f"backbones has no variant {variant!r}; use backbones:<backbone name>")
    c.lock()
    return c
