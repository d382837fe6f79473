"""Train anywhere, evaluate anywhere (issue 24 §6), for every registered dataset (timm style).

Each registered builder other than cxr14_subset is built at its 64 px config from real
metadata rows and generated images (its helper `tests/helpers/<dataset>_files.py`), a
`frozen_head:smoke` run trains on it, and one `cxr14_subset` smoke run is evaluated on it
(external validation: the findings both name). Tiny backbone, a few images: seconds each.
"""

import json

import numpy as np
import pytest
import tensorflow_datasets as tfds

from cxr.data import datasets
from cxr.pipeline import evaluate, experiment, experiment_config, label_match
from cxr.tracking.rundir import EvalDir, RunDir
from cxr_tfds import registry
from cxr_tfds.labels import LABELS
from tests.helpers import chexpert_files, siim_files, vindr_files

# How each builder's test helper writes a small manual dir with train, validation and
# test images. A registered builder missing here fails `test_every_dataset_has_a_manual_dir`.
MANUAL_DIRS = {
    "cxr_chexpert": lambda tmp: chexpert_files.make_manual_dir(tmp, 24, valid_images=8),
    "cxr_vindr": lambda tmp: vindr_files.make_manual_dir(tmp, 24, test_images=8),
    "cxr_siim": lambda tmp: siim_files.make_manual_dir(tmp, 40),
}
OTHERS = [name for name in registry.names() if name != "cxr14_subset"]


def test_every_dataset_has_a_manual_dir():
    assert sorted(MANUAL_DIRS) == sorted(OTHERS)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """name -> (builder at its 64 px config, manual dir, data dir), built once."""
    cache = {}

    def build(name):
        if name not in cache:
            tmp = tmp_path_factory.mktemp(name)
            manual = MANUAL_DIRS[name](tmp)
            builder = datasets.prepare(f"{name}/64", str(tmp / "tfds"), str(manual))
            cache[name] = (builder, str(manual), str(tmp / "tfds"))
        return cache[name]

    return build


def smoke_config(tmp_path, data_dir, dataset="cxr14_subset/synthetic_64", manual_dir=None):
    """frozen_head:smoke offline, on `dataset`, writing under `tmp_path`."""
    config = experiment_config.load_config("frozen_head:smoke")
    with config.unlocked():
        config.runs_dir = str(tmp_path / "runs")
        config.data.dataset, config.data.data_dir = dataset, data_dir
        config.data.manual_dir = manual_dir
        if manual_dir:  # a few images: whole splits (a slice past the end is refused)
            config.data.train_split, config.data.val_split = "train", "validation"
            config.data.test_split = "test"
        config.data.batch_size = 8
        config.train.feature_cache_dir = str(tmp_path / "features")
        config.wandb.mode = "disabled"
        config.eval.num_bootstrap = 10
    return config


def unknown_counts(builder, split):
    """Per label, the images of `split` whose label is unknown, by the dataset's own
    `targets` on the stored raw codes (TFDS's records, not cxr.data's lookup table)."""
    entry = registry.get(builder.name)
    records = tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False))
    raw = np.array([r[entry.label_feature] for r in records])
    _, known = entry.targets(raw)
    return (known == 0).sum(axis=0)


@pytest.mark.parametrize("name", OTHERS)
def test_a_smoke_run_trains_and_evaluates_on_the_dataset(name, built, tmp_path):
    builder, manual, data_dir = built(name)
    run = experiment.run(smoke_config(tmp_path, data_dir, f"{name}/64", manual))
    report = run.evaluation().file(EvalDir.METRICS)
    assert report.is_file() and (run.model_file).is_file()
    metrics = json.loads(report.read_text())
    names = registry.get(name).label_names
    assert metrics["labels"] == list(names)
    left_out = [metrics["per_label"][n]["n_unknown"] for n in names]
    np.testing.assert_array_equal(left_out, unknown_counts(builder, "test"))
    saved = run.evaluation().read_predictions()
    assert saved["label_names"] == names and saved["dataset"] == f"{name}/64"


@pytest.fixture(scope="module")
def cxr14_run(tmp_path_factory, data_dir):
    """One cxr14_subset smoke run (synthetic_64), trained once."""
    tmp = tmp_path_factory.mktemp("cxr14_run")
    return experiment.run(smoke_config(tmp, str(data_dir)))


@pytest.mark.parametrize("name", OTHERS)
def test_a_cxr14_run_is_evaluated_on_the_findings_it_shares(name, built, cxr14_run):
    builder, manual, data_dir = built(name)
    eval_dir = evaluate.evaluate_run(
        run=RunDir.open(cxr14_run.path),
        dataset=f"{name}/64",
        split="test",
        data_dir=data_dir,
        manual_dir=manual,
    )
    names = registry.get(name).label_names
    shared = [n for n in LABELS if n in names]
    saved = eval_dir.read_predictions()
    assert list(saved["label_names"]) == shared and shared
    match = json.loads(eval_dir.file(EvalDir.LABEL_MATCH).read_text())
    assert match == label_match.match(LABELS, names).summary()
    assert set(match["not_predicted_by_the_model"]) == set(names) - set(LABELS)
    assert len(saved["image_id"]) == builder.info.splits["test"].num_examples
