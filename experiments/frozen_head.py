"""frozen_head: ImageNet DenseNet121 frozen, only the 14-way sigmoid head trained.

The default strategy for limited hardware: the backbone runs once per image to
fill the feature cache, then the head trains for many epochs in seconds.

    make experiment NAME=frozen_head                  # $CXR14_DIR holds the NIH files
    make experiment NAME=frozen_head ARGS="--config.model.weights=/path/densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5"
    make experiment NAME=frozen_head:smoke            # seconds, synthetic data

Runtime: dominated by the feature pass, about 25 images/s at 224 px on 2 CPU cores
(the 195-image NIH sample: well under a minute). Expected result: not measured
yet; ImageNet weights cannot be downloaded on the machines this was built on.
"""

from cxr.configs import common


def get_config(variant=None):
    c = common.get_config()
    c.name = "frozen_head"
    c.train.head_epochs = 50
    if variant == "smoke":
        common.smoke(c, 48, 32, 32)
        c.train.head_epochs = 3
    elif variant is not None:
        raise ValueError(
            f"frozen_head has no variant {variant!r}; use frozen_head or frozen_head:smoke"
        )
    c.lock()
    return c
