"""The names other code reaches a cxr classifier's layers by (pure: no framework).

Whatever the backbone, `cxr.model.classifier.build_model` names these layers so, and
names the model cxr_<backbone>.
"""

FEATURE_MAP_LAYER = "feature_map"  # identity on the backbone's last feature map
GRADCAM_LAYER = FEATURE_MAP_LAYER  # the layer Grad-CAM and CAM explain
FEATURES_LAYER = "avg_pool"  # the pooled features
DROPOUT_LAYER = "head_dropout"
LOGITS_LAYER = "logits"
PREPROCESS_LAYER = "preprocess"  # the backbone's input preprocessing, first layer
MODEL_PREFIX = "cxr_"


def backbone_name(model) -> str:
    """The registry name of the backbone `model` was built on (its name, cxr_<backbone>).

    A model that is not a cxr classifier (a test's own, Keras-named functional_N) is
    "unregistered": nothing may depend on Keras's per-process layer counter.
    """
    if not model.name.startswith(MODEL_PREFIX):
        return "unregistered"
    return model.name.removeprefix(MODEL_PREFIX)
