"""`cxr.pipeline.saliency_masks`: SIIM's masks as the saliency study's regions.

The pairs are checked against the real rows of the images a generated manual dir holds
(read back with the csv module), and the random baseline's exact chances against brute
force: the mean hit of a one-hot map at every pixel. End to end, `cxr saliency --data
cxr_siim/64` on an NIH model (the tiny backbone) scores exactly the test split's masks:
the random baseline's hit rate equals the masks' mean pixel share, computed here from the
CSV's codes with the competition's decoding loop and 16 x 16 block means.
"""

import contextlib
import io
import json
import zlib

import keras
import numpy as np
import pytest

from cxr.errors import UserError
from cxr.evaluation import saliency_scores
from cxr.model import classifier
from cxr.pipeline import saliency_masks, saliency_study
from cxr.saliency import mask_scores, pointing
from cxr.tracking.rundir import RunDir, SaliencyDir
from cxr_tfds.labels import LABELS
from tests.helpers import siim_files


def test_columns_are_the_box_studys_names_with_mask_scores():
    rng = np.random.default_rng(0)
    maps = rng.random((3, 16, 16))
    masks = rng.random((3, 16, 16)) < 0.3
    columns = saliency_masks.mask_columns(maps, masks)
    assert set(columns) == {"hit", "pointing", "miou_otsu", "auprc", saliency_scores.IOUS}
    for i in range(3):
        assert columns["miou_otsu"][i] == mask_scores.otsu_iou(maps[i], masks[i])
        assert columns["auprc"][i] == mask_scores.pixel_auprc(maps[i], masks[i])
        assert columns["hit"][i] == mask_scores.hit(maps[i], masks[i])
    assert columns[saliency_scores.IOUS].shape == (3, len(saliency_scores.TUNING_THRESHOLDS))


def test_random_baseline_is_the_mean_hit_of_a_peak_at_every_pixel():
    masks = np.zeros((2, 12, 12), dtype=bool)
    masks[0, 2:5, 3:9] = True
    masks[1, 10:, :2] = True
    chances = saliency_masks.mask_baselines(masks, image_shape=(12, 12))[saliency_scores.RANDOM]
    tolerance = 0.1  # larger than Zhang's so that the pointing chance differs from the hit's
    for i, mask in enumerate(masks):
        hits, near = [], []
        for row in range(12):
            for col in range(12):
                one_hot = np.zeros((12, 12))
                one_hot[row, col] = 1
                hits.append(mask_scores.hit(one_hot, mask))
                near.append(mask_scores.pointing_hit(one_hot, mask, tolerance))
        assert chances["hit"][i] == pytest.approx(np.mean(hits), abs=1e-12)
        expected = mask_scores.near_mask(mask, tolerance).mean()
        assert expected == pytest.approx(np.mean(near), abs=1e-12) and expected > np.mean(hits)
    near_zhang = [mask_scores.near_mask(m, pointing.ZHANG_TOLERANCE).mean() for m in masks]
    np.testing.assert_allclose(chances["pointing"], near_zhang)


@pytest.fixture(scope="module")
def siim_builder(tmp_path_factory):
    import tensorflow_datasets as tfds

    from cxr_tfds.cxr_siim.cxr_siim_dataset_builder import CxrSiim

    tmp = tmp_path_factory.mktemp("siim_masks")
    root = siim_files.make_manual_dir(tmp, 9)
    builder = CxrSiim(config="64", data_dir=str(tmp / "tfds"))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=root))
    builder.manual_root = root  # for the end-to-end study below
    return builder


def test_pairs_are_the_positive_images_against_the_models_pneumothorax(siim_builder):
    reference = saliency_masks.reference(siim_builder, LABELS)
    rows = siim_files.real_rows()
    positive = {image for image, code in rows if code.strip() != "-1"}
    seen = set()
    for split in siim_builder.info.splits:
        images = [
            ex["image_id"].decode()
            for ex in siim_builder.as_dataset(split=split, shuffle_files=False).as_numpy_iterator()
        ]
        pairs = reference.pairs(siim_builder, split)
        assert [p[4] for p in pairs] == [i for i in images if i in positive]
        for index, label, mask, patient, image in pairs:
            assert images[index] == image == patient  # SIIM: patients are images
            assert label == LABELS.index("Pneumothorax") and mask.shape == (64, 64)
            assert mask.dtype == bool and mask.any()
        seen |= {p[4] for p in pairs}
    assert seen and reference.spec.labels == ("Pneumothorax",)


def test_a_model_without_pneumothorax_is_one_line(siim_builder):
    with pytest.raises(UserError, match="masks are of Pneumothorax, which the model does not"):
        saliency_masks.reference(siim_builder, ("Atelectasis", "Effusion"))


def test_datasets_without_masks_have_no_mask_reference(tmp_path):
    import tensorflow_datasets as tfds

    import cxr_tfds.builders  # noqa: F401  (registers cxr14_subset)

    builder = tfds.builder("cxr14_subset/synthetic_64", data_dir=str(tmp_path))
    assert saliency_masks.reference(builder, LABELS) is None


@pytest.fixture(scope="module")
def mask_study(siim_builder, tmp_path_factory):
    """`cxr saliency --data cxr_siim/64` of an untrained NIH model (tiny backbone, 64 px)."""
    run = RunDir(tmp_path_factory.mktemp("runs") / "quick" / "r1")
    data = {
        "dataset": "cxr14_subset/synthetic_64", "data_dir": str(siim_builder.data_dir_root),
        "manual_dir": None, "batch_size": 4, "test_split": "test", "val_split": "validation",
    }  # fmt: skip
    run.create({"name": "quick", "seed": 0, "data": data, "wandb": {"mode": "disabled"}})
    keras.utils.set_random_seed(0)
    classifier.build_model(backbone="tiny", num_labels=14, image_size=64).save(run.model_file)
    argv = ["--run", run.path, "--data", "cxr_siim/64", "--manual-dir", siim_builder.manual_root]
    argv += ["--methods", "gradcam", "--sanity-images", 0, "--gallery-images", 1]
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert saliency_study.main([str(a) for a in [*argv, "--num-bootstrap", 20]]) is None
    target = run.saliency("cxr_siim/64", "test")
    return target, json.loads(target.file(SaliencyDir.SCORES).read_text()), out.getvalue()


def test_cxr_saliency_scores_the_test_splits_masks(mask_study):
    target, saved, out = mask_study
    codes = {}
    for image_id, code in siim_files.real_rows():
        codes.setdefault(image_id, []).append(code)
    built = set(siim_files.pick(siim_files.real_rows(), 9))
    shares = []
    for image_id in sorted(built):
        if zlib.crc32(image_id.encode()) % 100 >= 10 or codes[image_id] == ["-1"]:
            continue  # not in test, or no pneumothorax
        mask = (
            siim_files.loop_decode(codes[image_id]).reshape(64, 16, 64, 16).mean(axis=(1, 3)) >= 0.5
        )
        shares.append(mask.mean())
    assert saved["boxes"] == saved["images"] == len(shares) > 0
    random = saved["scores"]["random"]["hit"]["label_mean"]["value"]
    assert random == pytest.approx(np.mean(shares), rel=1e-9)
    for method in ("gradcam", "centre"):
        columns = saved["scores"][method]
        assert {"hit", "pointing", "miou_otsu", "auprc", "miou_tuned"} <= set(columns)
        assert list(columns["hit"]["per_label"]) == ["Pneumothorax"]
        assert not any(key.startswith("wang") for key in columns)  # boxes only
    assert saved["box_set"]["labels"] == ["Pneumothorax"] and "masks" in saved["notes"]["boxes"]
    assert target.path.name == "cxr_siim_64-test"
