"""Xception (Chollet 2017). A block is one of its 14 named blocks (block1 to block14):
entry flow 1-4, middle flow 5-12, exit flow 13-14."""

from cxr.model.backbones import Backbone, register
from cxr.model.backbones.applications import application

WEIGHTS = "xception_weights_tf_dim_ordering_tf_kernels_notop.h5"

register(
    Backbone(
        name="xception",
        build=application("Xception", WEIGHTS),
        preprocessing="tf",
        weights_file=WEIGHTS,
        feature_width=2048,
        blocks="named block (14: block1 to block14)",
        block_starts=tuple(f"block{k}_" for k in range(1, 15)),
        native_size=299,
        min_size=71,
    )
)
