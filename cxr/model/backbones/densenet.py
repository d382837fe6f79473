"""DenseNet121, 169 and 201 (Huang et al. 2017); CheXNet's network is DenseNet121.

A block is a dense block (conv2 to conv5, four in all); `last_blocks:N` trains the last
N dense blocks, the transitions between them and the head. Layer names are Keras's
explicit ones, so the sanity cascade keeps its per-name stages (logits, bn, conv5,
pool4, ...).
"""

from cxr.model.backbones import Backbone, register
from cxr.model.backbones.applications import application

BLOCK_STARTS = ("conv2_block1_0_bn", "conv3_block1_0_bn", "conv4_block1_0_bn", "conv5_block1_0_bn")

for _depth, _width in ((121, 1024), (169, 1664), (201, 1920)):
    _file = f"densenet{_depth}_weights_tf_dim_ordering_tf_kernels_notop.h5"
    register(
        Backbone(
            name=f"densenet{_depth}",
            build=application(f"DenseNet{_depth}", _file),
            preprocessing="mean_std",
            weights_file=_file,
            feature_width=_width,
            blocks="dense block (4)",
            block_starts=BLOCK_STARTS,
            cascade="name_prefix",
        )
    )
