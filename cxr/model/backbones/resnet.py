"""ResNet50V2 (He et al. 2016, pre-activation). A block is a stage (conv2 to conv5)."""

from cxr.model.backbones import Backbone, register
from cxr.model.backbones.applications import application

WEIGHTS = "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5"

register(
    Backbone(
        name="resnet50v2",
        build=application("ResNet50V2", WEIGHTS),
        preprocessing="tf",
        weights_file=WEIGHTS,
        feature_width=2048,
        blocks="stage of residual blocks (4: conv2 to conv5)",
        block_starts=("conv2_block1", "conv3_block1", "conv4_block1", "conv5_block1"),
    )
)
