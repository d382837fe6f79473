"""Which layers of a cxr classifier train, and the blocks the sanity cascade randomises.

Both read the backbone's registry entry (`cxr.model.backbones`): its `block_starts`
say where each block begins, so no code here knows a family's layer names.
"""

from cxr.errors import UserError
from cxr.model import backbones
from cxr.model.layer_names import FEATURE_MAP_LAYER, FEATURES_LAYER, LOGITS_LAYER, backbone_name


def check_trainable(mode, backbone=backbones.DEFAULT):
    """Raises a `UserError` unless `mode` is one `set_trainable` takes for `backbone`."""
    n = len(backbones.get(backbone).block_starts)
    if mode in ("head", "all"):
        return
    count = mode.split(":", 1)[1] if mode.startswith("last_blocks:") else ""
    if not (count.isdigit() and 1 <= int(count) <= n):
        raise UserError(
            f"unfreeze mode {mode!r}: use 'head', 'all' or 'last_blocks:N', N in 1..{n} "
            f"(a block of {backbone}: {backbones.get(backbone).blocks})"
        )


def set_trainable(model, mode):
    """Chooses which layers of a `build_model` model train.

    In Keras 3 a BatchNormalization layer with `trainable=False` runs in inference
    mode: it normalises with its stored statistics and does not update them, even
    inside `fit`. That is what frozen layers need: batch statistics of small X-ray
    batches would otherwise shift the features under the head, and features cached
    once would no longer match what the head sees in training. Recompile after this.

    Args:
        model: a model from `cxr.model.classifier.build_model`.
        mode: "head" (only the logits layer trains), "all", or "last_blocks:N" (the
            last N blocks of the backbone, as its registry entry defines them, what
            lies between and above them, and the head).
    """
    name = backbone_name(model)
    check_trainable(mode, name if name in backbones.names() else backbones.DEFAULT)
    names = [layer.name for layer in model.layers]
    if mode == "head":
        first_index = names.index(FEATURES_LAYER)
    elif mode == "all":
        first_index = 0
    else:
        count = int(mode.split(":", 1)[1])
        first_index = block_start_indices(model)[-count]
    # Functional layers are in topological order and every backbone here is a chain of
    # blocks, so every layer listed after the first of a block lies above it in the graph.
    model.trainable = True
    for index, layer in enumerate(model.layers):
        layer.trainable = index >= first_index


def block_start_indices(model) -> list[int]:
    """The index in `model.layers` of each block's first layer, first block first."""
    names = [layer.name for layer in model.layers]
    indices = []
    for start in backbones.get(backbone_name(model)).block_starts:
        if start.startswith(">"):
            indices.append(names.index(start[1:]) + 1)
        else:
            indices.append(next(i for i, n in enumerate(names) if n.startswith(start)))
    return indices


def cascade_stages(model) -> list[tuple[str, list[str]]]:
    """The sanity cascade's stages, top down: [(stage name, [weighted layer names])].

    A cxr model on a backbone whose entry says "blocks": the logits, then each block
    from the last down (a block runs to the next block's start; the last one up to the
    feature map), then the stem. Otherwise (entry "name_prefix", or a model that is not
    a cxr classifier): consecutive weighted layers sharing the part of their name
    before the first "_" form one stage.
    """
    name = backbone_name(model)
    if name in backbones.names() and backbones.get(name).cascade == "blocks":
        return _block_stages(model)
    stages: list[tuple[str, list[str]]] = []
    for layer in reversed(model.layers):
        if not layer.weights:
            continue
        prefix = layer.name.split("_")[0]
        if stages and stages[-1][0] == prefix:
            stages[-1][1].append(layer.name)
        else:
            stages.append((prefix, [layer.name]))
    return stages


def _block_stages(model):
    layers = model.layers
    starts = block_start_indices(model)
    top = [layer.name for layer in layers].index(FEATURE_MAP_LAYER)
    bounds = [0, *starts, top]
    stages = [(LOGITS_LAYER, [layer.name for layer in layers[top:] if layer.weights])]
    for k in range(len(bounds) - 2, -1, -1):
        weighted = [layer.name for layer in layers[bounds[k] : bounds[k + 1]] if layer.weights]
        stages.append((f"block{k}" if k else "stem", weighted[::-1]))
    return [(stage, names) for stage, names in stages if names]
