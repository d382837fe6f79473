"""The PNGs of `cxr predict`: Grad-CAM overlays, notices for empty maps, decision bands.

    png = drawing.overlay(gray, heatmap, label)                 # as before: overlay or notice
    png = drawing.overlay(gray, heatmap, label, decision=lines) # with a band naming a decision

An empty map (constant, `cxr.saliency.pointing.is_empty`) gets no overlay, which would
look like the bare X-ray: its PNG is the dimmed X-ray under a band saying so. With
an operating point, a band above the picture states the label's decision, the point,
its validation sensitivity and specificity and the images they rest on (`decision_lines`).

Every band has one neutral style, white text on dark gray, whatever it says: a colour
per decision read as a verdict (a green "POSITIVE" over a red notice of an empty map
looked like two contradicting alarms), while the words carry the decision.
"""

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cxr.saliency import gallery, pointing

NOTICE_WIDTH = 256  # pictures with a band are drawn at least this wide: legible text
BAND_COLOUR = (48, 48, 48)  # every band: decisions and empty-map notices alike
RULE_COLOUR = (150, 150, 150)  # the line under each band, parting stacked bands
RULE_WIDTH = 2


def overlay(gray, heatmap, label, *, decision=None) -> np.ndarray:
    """The PNG of one label: its Grad-CAM overlay, or a notice for an empty map.

    Args:
        gray: uint8 (H, W) X-ray.
        heatmap: (H, W) Grad-CAM map in [0, 1].
        label: the label's name.
        decision: None, or (decision, lines) from `decision_lines`, drawn as a band.

    Returns:
        uint8 RGB: the plain overlay (H, W) without a decision and a non-empty map;
        otherwise at least `NOTICE_WIDTH` wide, topped by its bands.
    """
    if pointing.is_empty(heatmap):
        # Says what is empty (the map), not "no evidence", which a positive decision
        # above it would seem to contradict.
        lines = [f"{label}: Grad-CAM map empty", "no region raises its score:", "no overlay drawn"]
        picture = banded(np.dstack([gray // 2] * 3).astype(np.uint8), lines)
    else:
        picture = gallery.overlay(gray, heatmap)
    if decision is None:
        return picture
    _, lines = decision
    return banded(picture, lines)


def decision_lines(point, probability) -> tuple[str, list[str]]:
    """A label's decision at an operating point, and the band's lines saying it.

    Args:
        point: the label's `cxr.inference.operating_points.OperatingPoint`.
        probability: the image's probability of the label.

    Returns:
        (decision, lines): "positive", "negative" or "unsupported", and 3 or 4 lines of text.
    """
    word = point.decide(probability)
    counts = f"({point.counts()})"
    if point.reason is not None:
        return word, [f"{point.label}: no decision at {point.name}", point.reason, counts]
    sign = ">=" if word == "positive" else "<"
    few = "; few positives" if point.few_positives else ""
    return word, [
        f"{point.label}: {word} at {point.name}",
        f"p {probability:.3f} {sign} threshold {point.threshold:.3f}",
        f"validation sens {point.sensitivity:.2f}, spec {point.specificity:.2f}",
        f"{counts[1:-1]}{few}",
    ]


def banded(rgb, lines, colour=BAND_COLOUR) -> np.ndarray:
    """`rgb` under a band of `colour` holding `lines` in white, at least `NOTICE_WIDTH` wide.

    The picture is scaled up (never down) to that width, and the font shrinks until
    the longest line fits between 4-pixel margins.
    """
    rgb = np.asarray(rgb, dtype=np.uint8)
    scale = max(1.0, NOTICE_WIDTH / rgb.shape[1])
    width, height = round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)
    picture = Image.fromarray(rgb).resize((width, height))
    font_size = width // 12
    font = ImageFont.load_default(size=font_size)
    while font_size > 6 and max(font.getlength(line) for line in lines) > width - 8:
        font_size -= 1
        font = ImageFont.load_default(size=font_size)
    step = round(1.3 * font_size)
    band = step * len(lines) + 8
    canvas = Image.new("RGB", (width, band + height), colour)
    canvas.paste(picture, (0, band))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, band - RULE_WIDTH, width - 1, band - 1), fill=RULE_COLOUR)
    for i, line in enumerate(lines):
        draw.text((4, 4 + i * step), line, fill="white", font=font)
    return np.asarray(canvas)
