"""Adebayo et al.'s model randomisation test: metrics, cascade, re-initialisation, verdicts."""

import keras
import numpy as np
import pytest

from cxr.model import classifier
from cxr.saliency import sanity
from tests.helpers.backends import rerun_under_the_other_backend

SIZE = 32  # HOG needs 3 x 3 cells of 8 px: 24 px at least


def bn_model():
    """Conv, batch norm, conv, GAP, Dense; numpy weights and batch-norm statistics."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="c1_conv")(inputs)
    x = keras.layers.BatchNormalization(name="c1_bn")(x)
    x = keras.layers.Activation("relu", name="c1_relu")(x)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="c2_conv")(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))
    rng = np.random.default_rng(0)
    # Positive draws, so that no batch-norm variance is negative.
    model.set_weights(
        [rng.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in model.get_weights()]
    )
    return model


def linear_model():
    """No ReLU: its input gradient is the same for every image, a map only the model makes."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="c1_conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="logits")(x))
    rng = np.random.default_rng(1)
    model.set_weights([rng.normal(0, 1, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def weights(model):
    return {v.path: keras.ops.convert_to_numpy(v).copy() for v in model.weights}


def test_spearman_matches_the_rank_difference_formula():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 1, (24, 24)), rng.normal(0, 1, (24, 24))
    n = a.size

    def ranks(x):
        return np.argsort(np.argsort(x.ravel()))  # distinct values: ranks 0..n-1

    def rho(x, y):
        return 1 - 6 * ((ranks(x) - ranks(y)) ** 2).sum() / (n * (n**2 - 1))

    s = sanity.similarities(a, b)
    assert s["spearman"] == pytest.approx(rho(a, b), abs=1e-12)
    assert s["spearman_abs"] == pytest.approx(rho(np.abs(a), np.abs(b)), abs=1e-12)
    assert sanity.similarities(a, np.zeros_like(a))["spearman"] == 0.0  # constant: no association


def test_ssim_matches_a_loop_over_windows():
    rng = np.random.default_rng(3)
    a, b = rng.uniform(0, 1, (24, 24)), rng.uniform(0, 1, (24, 24))
    for m in (a, b):  # exactly 0 and 1 somewhere, so min-max scaling leaves them as they are
        m.flat[0], m.flat[1] = 0.0, 1.0
    c1, c2 = 0.01**2, 0.03**2  # Wang et al. 2004's K1, K2 with data range 1
    local = []
    for i in range(3, 21):  # 7 x 7 windows wholly inside the map, centred at (i, j)
        for j in range(3, 21):
            x, y = a[i - 3 : i + 4, j - 3 : j + 4].ravel(), b[i - 3 : i + 4, j - 3 : j + 4].ravel()
            cov = np.cov(x, y)  # sample covariance, as scikit-image's default
            local.append(
                ((2 * x.mean() * y.mean() + c1) * (2 * cov[0, 1] + c2))
                / ((x.mean() ** 2 + y.mean() ** 2 + c1) * (cov[0, 0] + cov[1, 1] + c2))
            )
    # Box filters against explicit window sums: float64 rounding only.
    assert sanity.similarities(a, b)["ssim"] == pytest.approx(np.mean(local), rel=1e-9)
    assert sanity.similarities(a, 3 * a)["ssim"] == pytest.approx(1.0)  # scale removed


def test_hog_correlation_sees_orientation():
    stripes = np.tile((np.arange(SIZE) // 4) % 2, (SIZE, 1)).astype(float)  # vertical edges
    s_same = sanity.similarities(stripes, 5 * stripes)
    s_turned = sanity.similarities(stripes, stripes.T)
    assert s_same["hog"] == pytest.approx(1.0)
    # Vertical edges fill the 0-degree bins, horizontal ones the 90-degree bins:
    # disjoint features, whose Pearson correlation is negative.
    assert s_turned["hog"] < 0


def test_cascade_follows_layer_names_top_down():
    assert sanity.cascade(bn_model()) == [
        ("logits", ["logits"]),
        ("c2", ["c2_conv"]),
        ("c1", ["c1_bn", "c1_conv"]),
    ]
    model = classifier.build_model(image_size=32)  # DenseNet121: its named stages
    stages = sanity.cascade(model)
    names = [prefix for prefix, _ in stages]
    assert names == [
        "logits",
        "bn",
        "conv5",
        "pool4",
        "conv4",
        "pool3",
        "conv3",
        "pool2",
        "conv2",
        "conv1",
    ]
    assert sum(len(layers) for _, layers in stages) == sum(1 for x in model.layers if x.weights)


def test_randomize_changes_exactly_the_named_layers():
    model = bn_model()
    before = weights(model)
    sanity.randomize(model, ["c1_bn", "logits"], seed=0)
    after = weights(model)
    changed = {p for p in before if not np.array_equal(before[p], after[p])}
    assert changed == {p for p in before if p.startswith(("c1_bn/", "logits/"))}
    # A batch norm re-initialised: gamma 1, beta 0, mean 0, variance 1; Dense bias 0.
    for name, value in [("gamma", 1), ("beta", 0), ("moving_mean", 0), ("moving_variance", 1)]:
        np.testing.assert_array_equal(after[f"c1_bn/{name}"], value)
    np.testing.assert_array_equal(after["logits/bias"], 0)
    assert after["logits/kernel"].std() > 0


def _edges(model, images, classes):
    """An edge detector: ignores the model entirely."""
    gy, gx = np.gradient(images.mean(axis=-1), axis=(1, 2))
    return np.hypot(gx, gy)


def test_an_edge_detector_fails_and_a_model_only_map_passes():
    model = linear_model()
    before = weights(model)
    images = np.random.default_rng(4).normal(0, 1, (6, SIZE, SIZE, 3)).astype(np.float32)
    methods = {
        "edges": _edges,
        "gradient": sanity.method_functions(
            ["smoothgrad"], smoothgrad={"noise": 0.0, "samples": 1}
        )["smoothgrad"],
    }
    results = sanity.cascading_randomization(model, images, 1, methods=methods)
    verdict = sanity.verdicts(results)
    assert [prefix for prefix, _ in results["edges"]["stages"]] == ["logits", "c1"]
    # The edge maps never change: similarity 1 at every stage, far above random pairs.
    for metric in sanity.METRICS:
        assert verdict["edges"][metric]["mean"] == pytest.approx(1.0)
        assert verdict["edges"][metric]["baseline"] < 0.5
    assert not verdict["edges"]["passes"]
    # The linear model's gradient is one map for every image: the baseline is 1, and
    # new weights make a new map.
    for metric in sanity.METRICS:
        assert verdict["gradient"][metric]["baseline"] == pytest.approx(1.0)
    assert verdict["gradient"]["passes"], verdict["gradient"]
    # The trained model itself is left as it was.
    assert all(np.array_equal(v, weights(model)[p]) for p, v in before.items())


def test_constant_maps_leave_the_verdict_undetermined():
    """A map that is constant on the trained model (an empty ReLU'd Grad-CAM) has no
    ranking to lose: its similarities are 0 by definition, at or below any baseline of
    such maps, which the rule alone would call a pass."""
    images = np.random.default_rng(5).normal(0, 1, (4, SIZE, SIZE, 3)).astype(np.float32)

    def flat(model, images, classes):
        return np.zeros(images.shape[:3], np.float32)

    results = sanity.cascading_randomization(linear_model(), images, 1, methods={"flat": flat})
    assert results["flat"]["constant_maps"] == 4
    verdict = sanity.verdicts(results)["flat"]
    assert all(verdict[m]["passes"] for m in sanity.METRICS)  # 0 <= 0, vacuously
    assert verdict["passes"] is None and verdict["constant_maps"] == 4


def test_constant_maps_after_randomisation_leave_the_verdict_undetermined():
    """The audit's vacuous pass: a method whose maps go constant on the randomised (or
    permuted-label) model scores 0 on all four similarities by definition, at or below
    any baseline, so the rule alone would pass it though nothing was measured."""
    images = np.random.default_rng(6).normal(0, 1, (4, SIZE, SIZE, 3)).astype(np.float32)
    trained = linear_model()
    gradient = _gradient()

    def vanishing(model, images, classes):  # informative on `trained`, flat on any other
        maps = gradient(trained, images, classes)
        return maps if model is trained else np.zeros_like(maps)

    methods = {"vanishing": vanishing, "gradient": gradient}
    cascade = sanity.cascading_randomization(trained, images, 1, methods=methods)
    permuted = sanity.data_randomization(trained, linear_model(), images, 1, methods=methods)
    for results in (cascade, permuted):
        verdict = sanity.verdicts(results)
        assert verdict["vanishing"]["constant_maps"] == 0
        assert verdict["vanishing"]["constant_randomized_maps"] == len(images)
        # The three correlations with a constant map are 0 by definition (SSIM is not a
        # correlation: it compares the randomised map's zeros with the trained map's values).
        assert all(
            verdict["vanishing"][m]["mean"] == 0.0 for m in ("spearman_abs", "spearman", "hog")
        )
        assert all(verdict["vanishing"][m]["passes"] for m in sanity.METRICS)  # vacuously
        assert verdict["vanishing"]["passes"] is None
        # A method whose randomised maps are not constant keeps its verdict.
        assert verdict["gradient"]["constant_randomized_maps"] == 0
        assert verdict["gradient"]["passes"] is not None


def _gradient():
    """The input gradient, signed (SmoothGrad without noise, one sample)."""
    return sanity.method_functions(["smoothgrad"], smoothgrad={"noise": 0.0, "samples": 1})[
        "smoothgrad"
    ]


def _with_weights(model, change):
    """A copy of `model` whose weights are `change({path: array})`'s."""
    copy = keras.models.clone_model(model)
    copy.set_weights(list(change(weights(model)).values()))
    return copy


def test_data_randomization_same_model_fails_and_other_weights_compare_lower():
    images = np.random.default_rng(5).normal(0, 1, (5, SIZE, SIZE, 3)).astype(np.float32)
    methods = {"edges": _edges, "gradient": _gradient()}
    model = bn_model()
    same = sanity.verdicts(sanity.data_randomization(model, model, images, 0, methods=methods))
    for name in methods:  # identical maps: similarity 1, above the random-pair baseline
        for metric in sanity.METRICS:
            assert same[name][metric]["mean"] == pytest.approx(1.0)
            assert same[name][metric]["baseline"] < 1 - 1e-6
        assert not same[name]["passes"]
    # The linear model's gradient is the logits kernel's sum over the conv: negating the
    # kernel negates every map. Signed ranks reverse (-1); |map|, SSIM and HOG of the
    # min-max scaled |map| are unchanged (1). Its maps are one map: the baseline is 1.
    linear = linear_model()
    negated = _with_weights(
        linear, lambda w: {p: -v if p == "logits/kernel" else v for p, v in w.items()}
    )
    results = sanity.data_randomization(
        linear, negated, images, 1, methods={"gradient": _gradient()}
    )
    ((stage, values),) = results["gradient"]["stages"]
    assert stage == sanity.PERMUTED
    np.testing.assert_allclose(values["spearman"], -1.0)
    for metric in ("spearman_abs", "ssim", "hog"):
        np.testing.assert_allclose(values[metric], 1.0, rtol=1e-6)  # float32 maps, same |values|
    # Other weights of the model with ReLUs: lower than the identical model's 1 on average.
    other = _with_weights(
        model, lambda w: {p: v[::-1].copy() if v.ndim else v for p, v in w.items()}
    )
    lower = sanity.verdicts(sanity.data_randomization(model, other, images, 0, methods=methods))
    assert all(lower["gradient"][m]["mean"] < 1 - 1e-3 for m in sanity.METRICS), lower
    assert all(lower["edges"][m]["mean"] == pytest.approx(1.0) for m in sanity.METRICS)


def test_data_randomization_is_judged_by_the_cascades_rule():
    images = np.random.default_rng(6).normal(0, 1, (4, SIZE, SIZE, 3)).astype(np.float32)
    model = bn_model()
    other = _with_weights(model, lambda w: {p: 0.5 + v * v for p, v in w.items()})
    gradient = _gradient()
    results = sanity.data_randomization(model, other, images, 2, methods={"g": gradient}, seed=3)
    verdict = sanity.verdicts(results)["g"]
    # By hand: each image's similarity of the two models' maps, their mean against the
    # random-pair baseline of the trained model's maps (the cascade's, same seed).
    mine, theirs = gradient(model, images, np.full(4, 2)), gradient(other, images, np.full(4, 2))
    reference = sanity.baseline(mine, seed=3)
    cascade = sanity.cascading_randomization(model, images, 2, methods={"g": gradient}, seed=3)
    assert cascade["g"]["baseline"] == pytest.approx(reference)
    for metric in sanity.METRICS:
        mean = np.mean(
            [sanity.similarities(a, b)[metric] for a, b in zip(mine, theirs, strict=True)]
        )
        # The same float32 maps from a second call: equal up to summation order, 1e-6.
        assert verdict[metric]["mean"] == pytest.approx(mean, abs=1e-6)
        assert verdict[metric]["baseline"] == pytest.approx(reference[metric], abs=1e-6)
        assert verdict[metric]["passes"] == (verdict[metric]["mean"] <= reference[metric])
    assert verdict["passes"] == all(verdict[m]["passes"] for m in sanity.METRICS)


def test_other_backend():
    rerun_under_the_other_backend(__file__)
