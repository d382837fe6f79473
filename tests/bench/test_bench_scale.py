"""The pure parts of `cxr.bench.scale`: the fits, the nested subsets, the manual dir."""

import math

import numpy as np
import pytest

from cxr.bench import scale, scale_data, scale_report
from cxr.errors import UserError
from cxr_tfds.cxr14_subset import metadata, splits


@pytest.mark.parametrize("k", [0.0, 1.0, 1.3])
def test_fit_exponent_recovers_a_known_power(k):
    ns = [1500, 15_000, 112_120]
    assert scale_report.fit_exponent(ns, [2.5 * n**k for n in ns]) == pytest.approx(k)


def test_fit_exponent_and_slope_need_two_sizes():
    assert math.isnan(scale_report.fit_exponent([100], [1.0]))
    assert math.isnan(scale_report.fit_slope([100, 100], [1.0, 2.0]))
    assert scale_report.fit_slope([100, 300], [50.0, 90.0]) == pytest.approx(0.2)


def test_expected_bytes_only_for_stages_holding_per_image_arrays():
    splits_ = {"train": 100, "validation": 10, "test": 30}
    assert scale_report.expected_bytes("pipeline", splits_) == 0
    # What the evaluation keeps of 40 test and validation images, as numpy counts it.
    scores = np.zeros((40, 14), np.float32)
    ids = np.array(["00000001_000.png"] * 40, dtype=str)  # NIH's image ids
    held = 2 * scores.nbytes + 2 * scores.astype(np.float64).nbytes + 40 * 8 + ids.nbytes
    assert scale_report.expected_bytes("evaluate", splits_) == held
    assert scale_report.expected_bytes("head", splits_) == 110 * (1024 + 14) * 4


@pytest.fixture(scope="module")
def meta():
    return scale_data.load_metadata(None, max_images=3000, seed=0)  # synthetic: offline


def test_synthetic_metadata_has_enough_images_and_test_boxes_only(meta):
    assert meta.source == "synthetic" and len(meta.rows) >= 3000
    assert meta.boxes and set(meta.boxes) <= meta.test


def test_selections_are_nested_exact_and_keep_the_test_share(meta):
    order = scale_data.patient_order(meta)
    assert sorted(order) == sorted(set(meta.patients.values()))
    share = len(meta.test) / len(meta.rows)
    previous = set()
    for n in (300, 1000, 3000):
        names = scale_data.select_images(meta, n, order)
        assert len(names) == len(set(names)) == n
        assert previous <= set(names)
        assert abs(sum(name in meta.test for name in names) / n - share) < 0.1
        previous = set(names)
    with pytest.raises(ValueError):
        scale_data.select_images(meta, len(meta.rows) + 1, order)


def test_manual_dir_builds_patient_disjoint_splits(meta, tmp_path):
    names = scale_data.select_images(meta, 500)
    facts = scale_data.write_manual_dir(meta, names, tmp_path, png_size=8)
    assert facts["images"] == 500 == facts["test_images"] + facts["train_val_images"]
    # The project's own readers take the files, and its split rule finds no shared patient.
    entries = metadata.read_data_entry(metadata.find_data_entry(tmp_path))
    test = metadata.read_image_list(tmp_path / metadata.TEST_LIST)
    train_val = metadata.read_image_list(tmp_path / metadata.TRAIN_VAL_LIST)
    boxes = metadata.read_boxes(tmp_path / metadata.BBOX_FILE)
    assert set(entries) == set(names) == set(test) | set(train_val)
    assert sum(map(len, boxes.values())) == facts["boxes"]
    plan = splits.plan_splits(entries, train_val=train_val, test=test, available=set(names))
    assert sum(map(len, plan.splits.values())) == 500
    pngs = sorted((tmp_path / "images").glob("*.png"))
    assert len(pngs) == 500
    again = tmp_path / "again"
    scale_data.write_manual_dir(meta, names[:1], again, png_size=8)
    first = (again / "images" / names[0]).read_bytes()
    assert first == (tmp_path / "images" / names[0]).read_bytes()  # same pixels at any N


def test_nih_selections_keep_the_official_test_share(sample_dir):
    meta = scale_data.load_metadata(sample_dir, max_images=0)
    assert len(meta.rows) == 112_120 and len(meta.test) == 25_596
    order = scale_data.patient_order(meta)
    for n in (1500, 15_000):
        names = scale_data.select_images(meta, n, order)
        assert sum(name in meta.test for name in names) / n == pytest.approx(0.228, abs=0.02)


def test_markdown_tables_of_two_sizes():
    sizes = [
        {
            "n": n,
            "data": {"boxes": 3, "write_seconds": 0.5 * n / 1000},
            "splits": {"train": n // 2, "test": n // 2},
            "stages": {
                "build": {"seconds": n / 1000, "peak_mb": 100 + n / 1000},
                "evaluate": {"seconds": 4 * n / 1000, "peak_mb": 200, "parts": {"p": n / 1000}},
            },
        }
        for n in (1000, 4000)
    ]
    stages = ("build", "evaluate")
    results = {
        "machine": dict(
            cpu="X", cores=2, gpus=[], keras="3", backend="jax", tensorflow="2", date="d"
        ),
        "image_size": 32,
        "metadata": "synthetic",
        "stages": stages,
        "sizes": sizes,
        "idle": {"peak_mb": 90.0},
        "total_seconds": 120.0,
        "summary": scale_report.summarize(sizes, 90.0, stages),
    }
    # Time grows as N (k = 1); build's memory grows 3 MB per 3000 images: 1048.576 B each.
    assert scale_report.markdown(results).splitlines() == [
        "Machine: X, 2 cores, GPU: none; Keras 3 (jax), TensorFlow 2; d. Images 32 px; "
        "metadata: synthetic; total 2.0 min.",
        "",
        "Splits: N=1,000: train 500, test 500, 3 boxes; N=4,000: train 2,000, test 2,000, 3 boxes",
        "",
        "| stage (seconds, us/image) | N=1,000 | N=4,000 | k (time ~ N^k) | goal k <= 1.05 |",
        "|---|---|---|---|---|",
        "| build | 1.0 s (1000 us) | 4.0 s (1000 us) | 1.00 | met |",
        "| evaluate | 4.0 s (4000 us) | 16.0 s (4000 us) | 1.00 | met |",
        "| evaluate: p | 1.0 s | 4.0 s | 1.00 | |",
        "",
        "Peak memory (MB; idle process with the same imports: 90 MB)",
        "",
        "| stage (peak MB) | N=1,000 | N=4,000 | growth (bytes/image) "
        "| expected from per-image arrays |",
        "|---|---|---|---|---|",
        "| build | 101 | 104 | 1049 | 0 |",
        "| evaluate | 200 | 200 | 0 | 204 |",  # 408 B per test image, and test is N / 2
        "",
        "At N=4,000 the stages take 20 s: evaluate 80%, build 20%.",
        "Writing the data (not a stage): N=1,000: 0.5 s, N=4,000: 2.0 s.",
    ]


@pytest.mark.parametrize(
    "sizes, stages, message",
    [
        ([], ["build"], "--sizes: give at least one"),
        ([10], ["build", "warmup"], "--stages warmup: unknown"),
        ([10], ["head"], "add features"),
    ],
)
def test_bad_sizes_or_stages_are_one_clear_error_before_any_work(tmp_path, sizes, stages, message):
    with pytest.raises(UserError, match=message):
        scale.run(sizes=sizes, stages=stages, out=tmp_path / "out.json", work=tmp_path / "w")
    assert list(tmp_path.iterdir()) == []
