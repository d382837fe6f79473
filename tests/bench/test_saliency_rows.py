"""Row 8 of `make bench` (saliency cost) on a tiny model, with hand-made timings."""

import json

import keras
import pytest

from cxr.bench import rows, saliency_rows
from cxr.errors import EXIT_CODE, UserError
from cxr.model.layer_names import GRADCAM_LAYER
from cxr.saliency.methods import METHODS


def tiny_model():
    # 32 px: the smallest image occlusion's default 32 px square fits.
    inputs = keras.Input((32, 32, 3))
    conv = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    features = keras.layers.Activation("relu", name=GRADCAM_LAYER)(conv)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    return keras.Model(inputs, keras.layers.Dense(14)(pooled))


def test_each_method_is_a_row_of_seconds_per_map_over_seconds_per_forward_image(monkeypatch):
    calls = []

    def fake_timed(fn, repeats, warm_up=None):
        """Runs both once (the maps are really made); call k "takes" 10 k s (min k, max 20 k)."""
        (warm_up or fn)()
        fn()
        calls.append(repeats)
        k = len(calls)
        return {"median": 10.0 * k, "min": 1.0 * k, "max": 20.0 * k}

    monkeypatch.setattr(rows, "timed", fake_timed)
    images = {"cam": 3, "gradcam": 2, "gradcam++": 4, "ig": 1, "smoothgrad": 2, "occlusion": 1}
    result = rows.saliency_bench_rows(tiny_model(), images=images, batch_size=4, repeats=2)

    assert calls == [2] * 7  # the forward baseline first, then one figure per method
    forward = {"median": 10.0 / 4, "min": 1.0 / 4, "max": 20.0 / 4}  # call 1, 4 images
    assert [r["row"].split()[2] for r in result] == list(images)
    for k, (r, (method, n)) in enumerate(zip(result, images.items(), strict=True), start=2):
        assert r["row"].startswith(f"8. saliency {method} (")
        assert f"{n} image" in r["row"] and "batch 4" in r["row"]
        assert all(f"{key}={value}" in r["row"] for key, value in METHODS[method].defaults.items())
        assert r["unit"] == "s" and r["goal"] is None and r["meets_goal"] is None
        assert r["baseline"] == pytest.approx(forward)
        assert r["figure"] == pytest.approx({"median": 10 * k / n, "min": k / n, "max": 20 * k / n})
        # "a map costs k forward passes": (10 k / n) / (10 / 4)
        assert r["ratio"] == pytest.approx(4 * k / n)
    assert "8. saliency occlusion" in rows.markdown({"machine": rows.machine(), "rows": result})


def test_measuring_row_8_alone_never_replaces_other_rows(tmp_path, capsys):
    whole = tmp_path / "results.json"
    before = json.dumps({"rows": [{"row": "1. forward, batch 1 vs batch 32"}]})
    whole.write_text(before)
    with pytest.raises(SystemExit) as exit_info:
        rows.main(["--only", "saliency", "--out", str(whole)])  # refused before measuring
    assert exit_info.value.code == EXIT_CODE and whole.read_text() == before
    assert "results.json holds more than row 8" in capsys.readouterr().err
    not_bench = tmp_path / "notes.json"
    not_bench.write_text("my notes")
    with pytest.raises(UserError, match="notes.json"):
        saliency_rows.check_alone_out(not_bench)
    alone = tmp_path / "saliency.json"
    saliency_rows.check_alone_out(alone)  # a new file
    alone.write_text(json.dumps({"rows": [{"row": "8. saliency cam (...)"}]}))
    saliency_rows.check_alone_out(alone)  # a previous row-8-alone file
