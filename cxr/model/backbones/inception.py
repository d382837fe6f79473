"""Inception V3 (Szegedy et al. 2016). A block is an Inception module after the first
("mixed1" to "mixed10", 10); the stem and "mixed0" never unfreeze alone. The layers
inside a module are auto-numbered (they change with Keras's layer counter), so a
module starts right after the previous module's output layer (">mixedK")."""

from cxr.model.backbones import Backbone, register
from cxr.model.backbones.applications import application

WEIGHTS = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"

register(
    Backbone(
        name="inceptionv3",
        build=application("InceptionV3", WEIGHTS),
        preprocessing="tf",
        weights_file=WEIGHTS,
        feature_width=2048,
        blocks="Inception module (10: mixed1 to mixed10)",
        block_starts=tuple(f">mixed{k}" for k in range(10)),
        native_size=299,
        min_size=75,
    )
)
