"""MobileNetV3 Large (Howard et al. 2019). A block is an inverted-residual block
("expanded_conv" to "expanded_conv_14", 15); the application rescales its own input.
Its activation layers are auto-numbered; the blocks' own layers are not."""

from cxr.model.backbones import Backbone, register
from cxr.model.backbones.applications import application

WEIGHTS = "weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5"

register(
    Backbone(
        name="mobilenetv3large",
        build=application("MobileNetV3Large", WEIGHTS, include_preprocessing=True),
        preprocessing="built_in",
        weights_file=WEIGHTS,
        feature_width=960,
        blocks="inverted-residual block (15: expanded_conv to expanded_conv_14)",
        block_starts=("expanded_conv_", *(f"expanded_conv_{k}_" for k in range(1, 15))),
    )
)
