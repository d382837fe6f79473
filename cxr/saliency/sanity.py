"""Adebayo et al.'s randomisation tests ("Sanity Checks for Saliency Maps", NeurIPS 2018).

    result = cascading_randomization(model, images, classes, methods=method_functions(["gradcam"]))
    verdicts(result)  # {method: {metric: {"mean", "upper", "baseline", "passes"}}}
    verdicts(data_randomization(model, permuted_model, images, classes, methods=...))

Cascade: the layers with weights, from the logits down, grouped into stages as the
backbone's registry entry says (`cascade`, `cxr.model.freezing.cascade_stages`): block
by block (logits, the last block, ..., the stem), or for DenseNet by the prefix of the
layer names before the first "_": logits, bn (the final batch norm), conv5 (dense
block 4), pool4 (transition 3), conv4, pool3, conv3, pool2, conv2, conv1 (the stem). Each stage re-initialises all
of its layers' variables with the layers' own initializers (`randomize`; a batch
norm becomes gamma 1, beta 0, mean 0, variance 1, as Adebayo et al.'s re-initialisation
of every variable does), cumulatively, on a copy of the model.

Each method's map on each randomised copy is compared with its map on the trained
model, image by image, by the four similarities of Adebayo et al. (Sec. 3), `similarities`:
Spearman rank correlation of the absolute maps, of the signed maps, SSIM, and the
Pearson correlation of HOG features. For SSIM and HOG each absolute map is min-max
scaled to [0, 1] (our choice: the maps' scales differ by method and the scale is
not what is compared); SSIM is scikit-image's (7 x 7 uniform window, data range 1),
HOG scikit-image's defaults (9 orientations, 8 x 8 px cells, 3 x 3 blocks, L2-Hys).
A correlation with a constant map, undefined, counts as 0 (no association).

The pass rule (Arun et al., Radiology: AI 2021, Fig. 3, applied to every metric and
method the same way): the randomisation baseline of a method and metric is the mean
similarity of its maps of random pairs of different images on the trained model (50
pairs, as Arun et al.); the method passes a metric when the mean similarity over the
images at full randomisation (every stage re-initialised) is at or below that baseline,
and passes the check when it passes all four. A method with a constant map of any
image on the trained model, or on the fully randomised (or permuted-label) model, gets
no verdict (None): its correlations are 0 by definition, so the rule would pass it
vacuously, without anything being measured. `verdicts` also gives the upper 95%
bound of that mean (Student's t over images), for a reader who wants the stricter
"shown below the baseline" reading; the verdict does not use it.

The data randomisation test (`data_randomization`): each method's maps on a model of
the same architecture trained on the training labels permuted across images
(`cxr.data.datasets.permuted_labels`) are compared with its maps on the trained model,
image by image, by the same four similarities. Its result has the cascade's shape with
one stage, `PERMUTED`, so `verdicts` judges it by the same rule and the same baseline.
"""

import keras
import numpy as np
from scipy import stats
from skimage.feature import hog
from skimage.metrics import structural_similarity

from cxr.model import freezing
from cxr.saliency.methods import saliency_maps
from cxr.saliency.pointing import is_empty

METRICS = ("spearman_abs", "spearman", "ssim", "hog")
BASELINE_PAIRS = 50  # Arun et al.'s number of random pairs
PERMUTED = "permuted labels"  # the data randomisation test's one stage


def cascade(model):
    """The stages of the cascade, top down: [(stage, [layer names])], from the registry.

    A model that is not a cxr classifier gets the name-prefix stages.
    """
    return freezing.cascade_stages(model)


def randomize(model, layer_names, *, seed):
    """Re-initialises, in place, every variable of the named layers with its layer's initializer.

    Args:
        model: A `keras.Model`.
        layer_names: The layers to re-initialise; the others keep their weights.
        seed: Seeds the draws (seed + the variable's index among those re-initialised).
    """
    variables = [v for name in layer_names for v in model.get_layer(name).weights]
    owners = [model.get_layer(name) for name in layer_names for _ in model.get_layer(name).weights]
    for index, (layer, variable) in enumerate(zip(owners, variables, strict=True)):
        name = variable.path.rsplit("/", 1)[-1]
        initializer = getattr(layer, f"{name}_initializer", None)
        if initializer is None:
            raise ValueError(f"{layer.name}: no initializer for its variable {name!r}")
        config = initializer.get_config()
        if "seed" in config:
            initializer = initializer.__class__.from_config({**config, "seed": seed + index})
        variable.assign(initializer(variable.shape, dtype=variable.dtype))


def similarities(a, b):
    """Adebayo et al.'s four similarities of two maps (H, W), as a dict over `METRICS`."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    unit_a, unit_b = _unit(np.abs(a)), _unit(np.abs(b))
    return {
        "spearman_abs": _correlation(np.abs(a).ravel(), np.abs(b).ravel(), rank=True),
        "spearman": _correlation(a.ravel(), b.ravel(), rank=True),
        "ssim": float(structural_similarity(unit_a, unit_b, data_range=1.0)),
        "hog": _correlation(hog(unit_a), hog(unit_b), rank=False),
    }


def baseline(maps, *, pairs=BASELINE_PAIRS, seed=0):
    """Arun et al.'s randomisation baseline: mean similarity of maps of random image pairs.

    Args:
        maps: (N, H, W) maps of N >= 2 different images on the trained model.
        pairs: How many pairs (i, j), i != j, drawn uniformly.

    Returns:
        {metric: mean similarity}.
    """
    rng = np.random.default_rng(seed)
    first = rng.integers(0, len(maps), pairs)
    second = (first + rng.integers(1, len(maps), pairs)) % len(maps)  # never the same image
    values = [similarities(maps[i], maps[j]) for i, j in zip(first, second, strict=True)]
    return {m: float(np.mean([v[m] for v in values])) for m in METRICS}


def method_functions(names, **options):
    """{name: maps(model, images, classes)} for `cascading_randomization`, from `METHODS`."""
    return {
        name: lambda model, images, classes, name=name: saliency_maps(
            model, images, classes, method=name, **options.get(name, {})
        )
        for name in names
    }


def cascading_randomization(model, images, class_indices, *, methods, seed=0):
    """Each method's maps on cumulatively randomised copies of `model`, compared with its own.

    Args:
        model: The trained `keras.Model` (left unchanged: a copy is randomised).
        images: Preprocessed images (N, S, S, 3), N >= 2.
        class_indices: The label explained, an int or N ints.
        methods: {name: function(model, images, classes) -> (N, S, S) maps}, e.g.
            `method_functions(["gradcam", "ig"])`.
        seed: Seeds the re-initialisation and the baseline's pairs.

    Returns:
        {method: {"baseline": {metric: mean}, "stages": [(prefix, {metric: (N,) values})]}}.
    """
    classes = np.broadcast_to(np.asarray(class_indices), (len(images),))
    trained = {name: fn(model, images, classes) for name, fn in methods.items()}
    results = {name: _start(trained[name], seed) for name in methods}
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    for index, (prefix, layer_names) in enumerate(cascade(copy)):
        randomize(copy, layer_names, seed=seed + 1000 * index)
        for name, fn in methods.items():
            _add_stage(results[name], prefix, trained[name], fn(copy, images, classes))
    return results


def data_randomization(model, permuted_model, images, class_indices, *, methods, seed=0):
    """Each method's maps on a model trained on permuted labels, compared with its own.

    Args:
        model: The trained `keras.Model`.
        permuted_model: The same architecture trained on the permuted training labels.
        images, class_indices, methods: As for `cascading_randomization`.
        seed: Seeds the baseline's pairs (the same pairs as the cascade's with that seed).

    Returns:
        {method: {"baseline": {metric: mean}, "stages": [(PERMUTED, {metric: (N,) values})]}},
        the shape of `cascading_randomization`'s results, for `verdicts`.
    """
    classes = np.broadcast_to(np.asarray(class_indices), (len(images),))
    results = {}
    for name, fn in methods.items():
        trained = fn(model, images, classes)
        results[name] = _start(trained, seed)
        _add_stage(results[name], PERMUTED, trained, fn(permuted_model, images, classes))
    return results


def _start(trained, seed):
    """A method's result before its stages: the baseline, and how many maps were constant."""
    constant = sum(is_empty(m) for m in trained)
    return {"baseline": baseline(trained, seed=seed), "constant_maps": constant, "stages": []}


def _add_stage(result, prefix, trained, maps):
    """Appends one stage's similarities to `result`, and how many of its maps were constant."""
    result["stages"].append((prefix, _compare(trained, maps)))
    result.setdefault("randomized_constant_maps", []).append(sum(is_empty(m) for m in maps))


def _compare(trained, maps):
    """{metric: (N,) similarities} of two models' maps of the same N images, image by image."""
    values = [similarities(t, r) for t, r in zip(trained, maps, strict=True)]
    return {m: np.array([v[m] for v in values]) for m in METRICS}


def verdicts(results):
    """The pass rule at full randomisation (the last stage), per method and metric.

    The one rule of both tests (see the module's docstring). A method whose map of any
    image is constant, on the trained model or at the last stage (fully randomised or
    permuted labels), scores similarities of 0 by definition, not by the model: its
    verdict is None (undetermined), not a pass.

    Returns:
        {method: {metric: {"mean", "upper", "baseline", "passes"}, "passes": bool | None,
        "constant_maps": int (on the trained model), "constant_randomized_maps": int (at
        the last stage)}}.
    """
    out = {}
    for name, result in results.items():
        _, last = result["stages"][-1]
        rows = {}
        for metric in METRICS:
            values = last[metric]
            mean = float(values.mean())
            spread = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
            rows[metric] = {
                "mean": mean,
                "upper": mean + float(spread) if len(values) > 1 else float("inf"),
                "baseline": result["baseline"][metric],
                "passes": mean <= result["baseline"][metric],
            }
        passes = all(rows[m]["passes"] for m in METRICS)
        constant = result.get("constant_maps", 0)
        randomized = (result.get("randomized_constant_maps") or [0])[-1]
        out[name] = {
            **rows,
            "passes": None if constant or randomized else passes,
            "constant_maps": constant,
            "constant_randomized_maps": randomized,
        }
    return out


def _unit(x):
    """Min-max scaled to [0, 1]; a constant map becomes zeros."""
    if is_empty(x):
        return np.zeros_like(x)
    return (x - x.min()) / (x.max() - x.min())


def _correlation(x, y, *, rank):
    """Spearman (rank) or Pearson correlation; 0 when either side is constant."""
    if is_empty(x) or is_empty(y):
        return 0.0
    if rank:
        return float(stats.spearmanr(x, y).statistic)
    return float(np.corrcoef(x, y)[0, 1])
