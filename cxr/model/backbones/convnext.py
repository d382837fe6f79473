"""ConvNeXt Tiny (Liu et al. 2022). A block is a stage (4); the application normalises
its own input. Stage 0 starts at its first block; stages 1-3 at the downsampling
block before them (Keras nests the stem and each downsampling block as a small
Sequential layer; the rest is flat)."""

from cxr.model.backbones import Backbone, register
from cxr.model.backbones.applications import application

WEIGHTS = "convnext_tiny_notop.h5"

register(
    Backbone(
        name="convnexttiny",
        build=application("ConvNeXtTiny", WEIGHTS, include_preprocessing=True),
        preprocessing="built_in",
        weights_file=WEIGHTS,
        feature_width=768,
        blocks="stage of ConvNeXt blocks (4)",
        block_starts=(
            "convnext_tiny_stage_0",
            "convnext_tiny_downsampling_block_0",
            "convnext_tiny_downsampling_block_1",
            "convnext_tiny_downsampling_block_2",
        ),
    )
)
