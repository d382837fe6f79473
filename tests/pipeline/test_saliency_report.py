"""The saliency study's plots: one colour per method everywhere, one scale for every map."""

import numpy as np
from matplotlib import colors

from cxr.evaluation.saliency_scores import CENTRE, RANDOM
from cxr.pipeline import saliency_gallery, saliency_report
from cxr.saliency import gallery
from cxr.saliency.methods import METHODS


def mean(value):
    return {"label_mean": {"value": value, "ci_low": value - 0.1, "ci_high": value + 0.1}}


def drawn_colours(ax):
    """Per errorbar of a panel: its method (the y it sits at) -> its RGBA colour."""
    return {int(c.lines[0].get_ydata()[0]): colors.to_rgba(c.lines[0].get_color()) for c in ax.containers}  # fmt: skip


def test_each_method_has_one_colour_in_every_score_panel():
    # The random baseline has only the pointing scores: in the mIoU panel it is missing,
    # and the methods after it must keep their colours (the colour cycle used to shift).
    scores = {
        "gradcam": {"hit": mean(0.5), "miou_otsu": mean(0.2)},
        RANDOM: {"hit": mean(0.1)},
        CENTRE: {"hit": mean(0.3), "miou_otsu": mean(0.1)},
        "ig": {"hit": mean(0.4), "miou_otsu": mean(0.3)},
    }
    fig = saliency_report.score_figure(scores)
    hit, miou = fig.axes[:2]
    assert [hit.get_title(), miou.get_title()] == ["hit", "mIoU Otsu"]
    names = list(scores)
    seen = {}
    for ax in (hit, miou):
        for y, colour in drawn_colours(ax).items():
            assert colour == colors.to_rgba(saliency_report.method_colour(names[y]))
            seen.setdefault(names[y], set()).add(colour)
    assert all(len(c) == 1 for c in seen.values()) and len(seen[CENTRE]) == 1
    assert len({next(iter(c)) for c in seen.values()}) == len(scores)  # all told apart
    ticks = {t.get_text(): colors.to_rgba(t.get_color()) for t in hit.get_yticklabels()}
    assert ticks == {name: next(iter(seen[name])) for name in names}


def test_the_sanity_plot_uses_the_same_colours():
    stages = [("logits", {m: [0.5, 0.6] for m in saliency_report.sanity.METRICS})]
    baseline = dict.fromkeys(saliency_report.sanity.METRICS, 0.1)
    results = {m: {"stages": stages, "baseline": baseline} for m in ("ig", "gradcam++")}
    fig = saliency_report.sanity_figure(results)
    lines = [line for line in fig.axes[0].lines if line.get_label() in results]
    assert {line.get_label(): line.get_color() for line in lines} == {
        m: saliency_report.method_colour(m) for m in results
    }


def test_colours_are_distinct_and_fixed_for_every_method_and_baseline():
    names = [*METHODS, RANDOM, CENTRE]
    assert len({saliency_report.method_colour(n) for n in names}) == len(names)
    assert saliency_report.method_colour("ig") == saliency_report.method_colour("ig")
    assert saliency_report.method_colour("not a method") == "black"


def test_every_method_is_drawn_on_one_diverging_scale():
    gray = np.full((8, 8), 100, np.uint8)
    relu = np.zeros((8, 8))
    relu[2:4, 2:4], relu[5, 5] = 1.0, 0.5  # a Grad-CAM-like map in [0, 1]
    limit = gallery.symmetric_limit([relu])
    expected = gallery.signed_overlay(gray, relu, limit)  # the signed maps' own scale
    np.testing.assert_array_equal(saliency_gallery.panel(gray, relu), expected)
    kept = [{"gray": gray, "maps": {m: relu for m in METHODS}, "box": [0, 0, 0.5, 0.5]}]
    kept[0] |= {"image_id": "a.png", "label": 0}
    fig = saliency_gallery.gallery_figure(kept, list(METHODS), ["Atelectasis"])
    drawn = [ax.images[0].get_array() for ax in fig.axes[1:]]
    for method, image in zip(METHODS, drawn, strict=True):  # the same map looks the same
        np.testing.assert_array_equal(image, expected, err_msg=method)
    # Half the peak is a light red of the diverging scale (jet would make it green).
    red, green, blue = expected[5, 5].astype(int)
    assert red > green + 20 and red > blue + 20
    assert gallery.SIGNED_COLORMAP in fig.get_suptitle()


def test_a_box_is_a_rectangle_and_a_mask_its_outline_in_every_panel():
    gray = np.full((16, 16), 100, np.uint8)
    heat = np.zeros((16, 16))
    mask = np.zeros((16, 16), bool)
    mask[4:10, 3:8] = True
    cases = [
        {"gray": gray, "maps": {"gradcam": heat}, "box": [0.25, 0.25, 0.5, 0.75]},
        {"gray": gray, "maps": {"gradcam": heat}, "box": mask},
    ]
    for k, case in enumerate(cases):
        case |= {"image_id": f"{k}.png", "label": 0}
    fig = saliency_gallery.gallery_figure(cases, ["gradcam"], ["Pneumothorax"])
    box_row, mask_row = fig.axes[:2], fig.axes[2:]
    for ax in box_row:  # the box in pixels of the 16 px panel: x 4..12, y 4..8
        (rect,) = ax.patches
        assert (rect.get_x(), rect.get_y(), rect.get_width(), rect.get_height()) == (4, 4, 8, 4)
    for ax in mask_row:  # the mask's outline: a contour at 0.5 along its edge, no rectangle
        assert not ax.patches
        (path,) = [p for c in ax.collections for p in c.get_paths() if len(p.vertices)]
        xs, ys = path.vertices[:, 0], path.vertices[:, 1]
        # Between the last pixel inside (7, 9) and the first outside (8, 10), at 0.5.
        assert (xs.min(), xs.max(), ys.min(), ys.max()) == (2.5, 7.5, 3.5, 9.5)
    table = saliency_gallery.gallery_table(cases, ["gradcam"], ["Pneumothorax"])
    assert table.rows[0][2].boxes is not None and table.rows[1][2].boxes is None
