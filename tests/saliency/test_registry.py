"""The saliency registry is the one source of methods: the study, the CLI, the dashboard
and the bench read it, and a method registered from this file alone runs through the
study (its scores in saliency.json) and row 8 of the bench without editing either."""

import dataclasses
import json
import pathlib

import keras
import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from cxr.bench import saliency_rows
from cxr.cli import arguments
from cxr.data import datasets
from cxr.model import classifier
from cxr.pipeline import dashboard, saliency_regions, saliency_study
from cxr.saliency import methods, registry
from cxr.tracking.rundir import RunDir, SaliencyDir

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILT_IN = ("cam", "gradcam", "gradcam++", "ig", "smoothgrad", "occlusion")
CALLS = []  # images per call of the method registered here: it really ran


def gradient_x_input_maps(model, images, classes, batch_size, *, absolute):
    """Gradient * input (Shrikumar et al., arXiv 1605.01713), summed over channels."""
    CALLS.append(len(images))
    _, grads = methods.gradients_in_batches(model, images, classes, batch_size)
    maps = (images * grads).sum(axis=-1)
    return np.abs(maps) if absolute else maps


@pytest.fixture
def gradient_x_input():
    """The new method, registered for one test (on by default), then removed."""
    entry = registry.register(
        registry.Method(
            name="gradient_x_input",
            paper="Shrikumar et al., arXiv 1605.01713 (2016)",
            defaults={"absolute": False},
            signed=True,
            compute=gradient_x_input_maps,
            batches=True,  # one gradient call per batch of images
        )
    )
    CALLS.clear()
    yield entry
    registry.unregister(entry.name)


def test_the_built_in_entries_are_what_the_study_and_bench_used_before():
    assert registry.default_names() == BUILT_IN == saliency_study.DEFAULT_METHODS
    assert arguments.saliency().parse_args(["--run", "r"]).methods == list(BUILT_IN)
    # Row 8's images per repeat and warm-ups, as its own table and function had them.
    assert saliency_rows.images_per_repeat() == {
        "cam": 8, "gradcam": 8, "gradcam++": 8, "ig": 1, "smoothgrad": 1, "occlusion": 1
    }  # fmt: skip
    warm = {m: e.warm_up_options(batch_size=4, side=64) for m, e in registry.METHODS.items()}
    assert warm == {
        "cam": {}, "gradcam": {}, "gradcam++": {}, "ig": {"steps": 4},
        "smoothgrad": {"samples": 4}, "occlusion": {"patch": 64, "stride": 64},
    }  # fmt: skip
    assert methods.METHODS is registry.METHODS
    assert registry.METHODS["ig"].function() is methods.integrated_gradients  # resolved lazily


def test_a_name_is_registered_once_and_an_off_by_default_method_is_not_run_by_default():
    with pytest.raises(ValueError, match="'gradcam' is registered twice"):
        registry.register(registry.METHODS["gradcam"])
    quiet = dataclasses.replace(registry.METHODS["cam"], name="quiet", by_default=False)
    registry.register(quiet)
    try:
        assert "quiet" in registry.METHODS and "quiet" not in registry.default_names()
    finally:
        registry.unregister("quiet")
    assert "quiet" not in registry.METHODS


def test_the_recipe_in_development_md_is_the_entry_registered_here(gradient_x_input):
    text = (ROOT / "docs" / "development.md").read_text()
    section = text.split("## Adding a saliency method")[1].split("\n## ")[0]
    block = section.split("```python\n")[1].split("```")[0].strip().rstrip(",")
    entry = eval(block, {"Method": registry.Method})  # the recipe's code, as written
    assert dataclasses.replace(entry, compute=gradient_x_input_maps) == gradient_x_input


def logits(model, x, label):
    return keras.ops.convert_to_numpy(model(x, training=False))[:, label].astype(np.float64)


def test_the_registered_method_sums_to_the_logit_above_black_on_a_linear_network(
    gradient_x_input,
):
    # f(x) = w.x + b: every gradient is w, so sum(x * grad) = f(x) - f(0) exactly.
    inputs = keras.Input((16, 16, 3))
    conv = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(5)(keras.layers.GlobalAveragePooling2D()(conv)))
    x = np.random.default_rng(0).uniform(0, 255, (3, 16, 16, 3)).astype(np.float32)
    maps = methods.saliency_maps(model, x, 4, method="gradient_x_input", batch_size=2)
    expected = logits(model, x, 4) - logits(model, np.zeros_like(x), 4)
    np.testing.assert_allclose(maps.sum(axis=(1, 2)), expected, rtol=1e-4, atol=1e-4)
    absolute = methods.saliency_maps(model, x, 4, method="gradient_x_input", absolute=True)
    np.testing.assert_allclose(absolute, np.abs(maps), rtol=1e-5, atol=1e-6)
    # On by default: the dashboard's Saliency bars name it.
    keys = {k for p in dashboard.saliency_panels(lambda k: k) for k in p["keys"]}
    assert "saliency/gradient_x_input/hit" in keys


def test_the_registered_method_runs_through_the_saliency_study(
    gradient_x_input, tmp_path, sample_builder, sample_dir, data_dir
):
    run = RunDir(tmp_path / "runs" / "quick" / "r1")
    data = {
        "name": "cxr14_subset/224", "data_dir": str(data_dir), "manual_dir": str(sample_dir),
        "batch_size": 4, "test_split": "test", "val_split": "validation",
    }  # fmt: skip
    run.create({"name": "quick", "seed": 0, "data": data, "wandb": {"mode": "disabled"}})
    keras.utils.set_random_seed(0)
    model = classifier.build_model(backbone="tiny", num_labels=14, image_size=224, weights=None)
    model.save(run.model_file)
    target = saliency_study.saliency_run(
        run=run,
        methods=["gradcam", "gradient_x_input"],
        options={"gradient_x_input": {"absolute": True}},
        settings={"num_bootstrap": 20, "sanity_images": 2, "gallery_images": 1},
    )
    saved = json.loads(target.file(SaliencyDir.SCORES).read_text())
    scores = saved["scores"]["gradient_x_input"]
    assert set(scores) == set(saved["scores"]["gradcam"])  # every score Grad-CAM gets
    assert saved["seconds_per_map"]["gradient_x_input"] > 0
    assert isinstance(saved["sanity"]["gradient_x_input"]["verdict"]["passes"], bool)
    assert sum(CALLS) >= saved["boxes"]  # every boxed pair's map was made by our function
    # Its pixel AUPRC recomputed here with scikit-learn, from |map| (the option passed):
    # per box, averaged per label, then over the labels (CheXlocalize's average).
    auprcs = _auprcs(model, sample_builder, saliency_regions.split_boxes(sample_builder, "test"))
    names = datasets.label_names(sample_builder.info)
    per_label = {names[k]: np.mean(v) for k, v in auprcs.items()}
    saved_per_label = {k: v["value"] for k, v in scores["auprc"]["per_label"].items()}
    assert saved_per_label == pytest.approx(per_label, rel=1e-6)
    mean = scores["auprc"]["label_mean"]["value"]
    assert mean == pytest.approx(np.mean(list(per_label.values())), rel=1e-6)


def _auprcs(model, builder, pairs):
    """{label index: [average precision of |gradient x input| for the box's pixels]}."""
    grays = dict(datasets.decode_selected(builder, "test", sorted({p[0] for p in pairs})))
    out = {}
    for index, label, box, _, _ in pairs:
        x = datasets.gray_model_input(grays[index][None])
        heat = np.abs(methods.saliency_maps(model, x, label, method="gradient_x_input"))[0]
        centres = (np.arange(heat.shape[0]) + 0.5) / heat.shape[0]  # square images
        rows = (centres >= box[0]) & (centres <= box[2])
        columns = (centres >= box[1]) & (centres <= box[3])
        inside = rows[:, None] & columns[None, :]
        out.setdefault(label, []).append(average_precision_score(inside.ravel(), heat.ravel()))
    return out


def test_the_bench_measures_the_registered_method_without_editing_bench_code(gradient_x_input):
    model = classifier.build_model(backbone="tiny", num_labels=14, image_size=32, weights=None)
    repeats = []

    def timed(fn, n, warm_up=None):
        """Runs the warm-up and one repeat for real; each figure "takes" 3 s (min 2, max 4)."""
        (warm_up or fn)()
        fn()
        repeats.append(n)
        return {"median": 3.0, "min": 2.0, "max": 4.0}

    forward, maps = saliency_rows.map_seconds(model, timed=timed, batch_size=1, repeats=1)
    assert list(maps) == [*BUILT_IN, "gradient_x_input"]  # every registered method, in order
    assert maps["gradient_x_input"] == (1, {"median": 3.0, "min": 2.0, "max": 4.0})
    assert CALLS == [1, 1]  # the warm-up and the timed map, one image each
    name = saliency_rows.row_names(maps, batch_size=1)["gradient_x_input"]
    assert name.startswith("8. saliency gradient_x_input (absolute=False; 1 image, batch 1)")
