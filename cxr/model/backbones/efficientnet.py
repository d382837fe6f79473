"""EfficientNetV2 B0 and S (Tan and Le 2021). A block is a stage of MBConv blocks
(block1 to block6); the application rescales its own input."""

from cxr.model.backbones import Backbone, register
from cxr.model.backbones.applications import application

STAGES = ("block1a", "block2a", "block3a", "block4a", "block5a", "block6a")

for _name, _constructor, _size in (
    ("efficientnetv2b0", "EfficientNetV2B0", 224),
    ("efficientnetv2s", "EfficientNetV2S", 384),
):
    _file = f"{_name.replace('v2', 'v2-')}_notop.h5"  # efficientnetv2-b0_notop.h5
    register(
        Backbone(
            name=_name,
            build=application(_constructor, _file, include_preprocessing=True),
            preprocessing="built_in",
            weights_file=_file,
            feature_width=1280,
            blocks="stage of (Fused-)MBConv blocks (6: block1 to block6)",
            block_starts=STAGES,
            native_size=_size,
        )
    )
