"""predictions.npz keeps the known mask and the per-image attributes, and old files still read."""

import io

import numpy as np

from cxr.tracking.predictions import Predictions
from cxr.tracking.rundir import EvalDir


def _predictions(known=None, attributes=None):
    rng = np.random.default_rng(0)
    return Predictions(
        probs=rng.random((4, 2)).astype(np.float32),
        labels=np.array([[1, 0], [0, 0], [1, 1], [0, 1]], np.float32),
        image_id=np.array(["a", "b", "c", "d"]),
        patient_id=np.array(["p1", "p1", "p2", "p3"]),
        label_names=("Cardiomegaly", "Lung_Opacity"),
        dataset="cxr_made_up/64",
        split="test",
        known=known,
        attributes=attributes or {},
    )


def test_known_and_attributes_come_back_as_saved(tmp_path):
    known = np.array([[1, 0], [1, 1], [0, 1], [1, 1]], np.uint8)
    attributes = {
        "sex": np.array(["M", "F", "", "F"]),
        "age": np.array([34.0, np.nan, 71.0, 80.0]),
        "view": np.array(["PA", "AP", "", "PA"]),
    }
    folder = EvalDir(tmp_path)
    folder.file(EvalDir.PREDICTIONS).write_bytes(_predictions(known, attributes).encoded())
    saved = folder.read_predictions()
    np.testing.assert_array_equal(saved["known"], known)
    assert saved["known"].dtype == np.uint8
    assert set(saved["attributes"]) == {"sex", "age", "view"}
    np.testing.assert_array_equal(saved["attributes"]["sex"], ["M", "F", "", "F"])
    np.testing.assert_array_equal(saved["attributes"]["view"], ["PA", "AP", "", "PA"])
    np.testing.assert_array_equal(saved["attributes"]["age"], [34.0, np.nan, 71.0, 80.0])
    assert not any(key.startswith(EvalDir.ATTRIBUTE_PREFIX) for key in saved)
    # What compare_runs and the tests do: encode what was read, read it again.
    again = EvalDir.encode_predictions(**{k: v for k, v in saved.items()})
    with np.load(io.BytesIO(again)) as reread:
        np.testing.assert_array_equal(reread["known"], known)


def test_all_known_stores_no_mask_and_reads_none(tmp_path):
    folder = EvalDir(tmp_path)
    folder.file(EvalDir.PREDICTIONS).write_bytes(_predictions().encoded())
    with np.load(folder.file(EvalDir.PREDICTIONS)) as raw:
        assert "known" not in raw.files
    saved = folder.read_predictions()
    assert saved["known"] is None and saved["attributes"] == {}
    assert _predictions().known_mask().all()


def test_a_file_written_before_the_mask_reads(tmp_path):
    """The keys of predictions.npz as written before issue 24, by np.savez directly."""
    path = EvalDir(tmp_path).file(EvalDir.PREDICTIONS)
    with open(path, "wb") as f:
        np.savez(
            f,
            image_id=np.array(["a", "b"]),
            patient_id=np.array([1, 2]),
            labels=np.zeros((2, 14), np.float32),
            probs=np.full((2, 14), 0.5, np.float32),
            label_names=np.array([f"L{i}" for i in range(14)]),
            dataset=np.array("cxr14_subset/224"),
            split=np.array("test"),
        )
    saved = EvalDir(tmp_path).read_predictions()
    assert saved["known"] is None and saved["attributes"] == {}
    assert saved["label_names"][0] == "L0" and saved["dataset"] == "cxr14_subset/224"
