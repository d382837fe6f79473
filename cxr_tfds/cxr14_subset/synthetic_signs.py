"""Numpy drawing of synthetic chest X-rays and of the visual signs of the 14 pathologies.

An image is a map of X-ray attenuation ("density") in an anatomical frame (u to the image
right, v down, both about [0, 1]) that the patient's pose maps onto the pixel grid, so every
routine is resolution independent and vectorised over the whole image. `Chest` holds what a
patient's follow-ups share (geometry, bones, soft tissue), because drawing it is most of the
cost; each sign then draws into per-image layers and returns a mask whose bounding box is the
NIH box. The image's left is the patient's right, as on a PA film.
"""

import math

import numpy as np
from PIL import Image, ImageFilter

from cxr_tfds.labels import LABELS


def patient_anatomy(rng: np.random.Generator) -> dict:
    """Draws one patient's body habitus, pose and exposure, shared by all their follow-ups.

    Args:
      rng: generator seeded for this patient.

    Returns:
      A dict of floats, lengths in anatomical units (image width = 1).
    """
    anat = dict(
        scale=rng.uniform(0.9, 1.02),
        cx=0.5 + rng.normal(0, 0.015),
        cy=0.5 + rng.normal(0, 0.015),
        theta=rng.normal(0, 2.0),
        lung_sep=rng.uniform(0.19, 0.21),
        lung_w=rng.uniform(0.16, 0.18),
        lung_top=rng.uniform(0.29, 0.33),
        lung_y=rng.uniform(0.43, 0.46),
        dome_base=rng.uniform(0.77, 0.82),
        dome_h=rng.uniform(0.05, 0.08),
        heart_w=rng.uniform(0.12, 0.16),
        heart_h=rng.uniform(0.12, 0.14),
        heart_x=rng.uniform(0.025, 0.045),
        body_w=rng.uniform(0.45, 0.52),
        rib_phase=rng.uniform(0, 1),
        air=rng.uniform(0.8, 0.95),
        gamma=rng.uniform(0.8, 1.25),
        lo=rng.uniform(0.0, 0.1),
        hi=rng.uniform(0.85, 1.0),
        noise=rng.uniform(0.008, 0.03),
        blur=rng.uniform(0.4, 1.3),
        vessel_n=rng.integers(30, 48),
        vessel_phase=rng.uniform(0, 6.3),
        # How much the findings that deform the chest deform it in this patient: sometimes
        # mildly, so that the normal and abnormal ranges overlap.
        cardiomegaly=rng.uniform(1.12, 1.45),
        emphysema=rng.uniform(0.3, 1.0),
    )
    # Python floats: a numpy float64 scalar would silently promote every float32 image.
    return {k: float(x) for k, x in anat.items()}


def _smooth_noise(rng, size, cells):
    """Zero-mean noise of about unit scale that varies over `cells` blobs across the image."""
    coarse = Image.fromarray(rng.standard_normal((cells + 3, cells + 3), dtype=np.float32), "F")
    # The one-cell margin keeps the bicubic kernel away from the border.
    box = (1, 1, cells + 2, cells + 2)
    return np.asarray(coarse.resize((size, size), Image.BICUBIC, box=box)) * 1.25


def _blur(img, sigma):
    """Gaussian blur of an image in [0, 1], through 8 bits because PIL's fast C blur cannot take
    float images (and scipy is not a dependency)."""
    img = Image.fromarray((img * 255 + 0.5).astype(np.uint8), "L")
    return np.asarray(img.filter(ImageFilter.GaussianBlur(sigma)), np.float32) / 255


def _hypot(x, y):
    return np.sqrt(x * x + y * y)  # several times faster than np.hypot


def _side(rng):
    return -1 if rng.random() < 0.5 else 1


def _soft(x, edge):
    """Soft step 0 -> 1 around x = 0, `edge` wide: anti-aliased masks from signed distances."""
    return np.clip(0.5 + x / edge, 0.0, 1.0)


def _lung_radius(a, b, top, bottom=0.45):
    """Normalised lung radius (1 on the pleura) from lateral `a` and vertical `b` offsets.

    The apex is narrower than the base and the medial border flatter, as in a real lung.
    """
    b = np.where(b < 0, b / top, b / bottom)
    taper = 0.62 + 0.38 * np.sqrt(np.clip(b + 1.0, 0.0, 1.0))
    a = np.where(a < 0, a * 1.3, a)
    return np.sqrt((a / taper) ** 2 + b**2)


class _Frame:
    """A pixel grid mapped into the anatomical frame, with the heart and lung fields on it."""

    def __init__(self, size, anat):
        self.size, self.anat, self.edge = size, anat, 1.5 / size
        y, x = (np.mgrid[0:size, 0:size].astype(np.float32) + 0.5) / size
        cos, sin = math.cos(math.radians(anat["theta"])), math.sin(math.radians(anat["theta"]))
        dx, dy = x - anat["cx"], y - anat["cy"]
        self.u = 0.5 + (cos * dx + sin * dy) / anat["scale"]
        self.v = 0.5 + (-sin * dx + cos * dy) / anat["scale"]
        self.heart_y = anat["dome_base"] - anat["dome_h"] - 0.09
        self.heart = self._heart()
        self.sides = {side: self._lung(side) for side in (-1, 1)}
        self.lung = np.maximum(self.sides[-1]["mask"], self.sides[1]["mask"])

    def _heart(self):
        a = self.anat
        x, y = self.u - (0.5 + a["heart_x"]), self.v - self.heart_y
        # Long axis tilted down to the patient's left, where the apex bulges.
        du, dv = 0.9 * x + 0.44 * y, -0.44 * x + 0.9 * y
        du = np.where(du < 0, du * 1.15, du / 1.1)
        r = _hypot(du / a["heart_w"], dv / a["heart_h"])
        return _soft((1 - r) * a["heart_h"], self.edge)

    def _lung(self, side):
        a = self.anat
        cx = 0.5 + side * a["lung_sep"]
        la = side * (self.u - cx) / a["lung_w"]  # positive towards the chest wall
        lb = self.v - a["lung_y"]
        r = _lung_radius(la, lb, a["lung_top"])
        dome = self.dome(side)
        mask = _soft((1 - r) * a["lung_w"], self.edge) * _soft(dome - self.v, self.edge)
        mask = mask * (1 - self.heart)
        return dict(mask=mask, r=r, angle=np.arctan2(lb / a["lung_top"], la), cx=cx, dome=dome)

    def dome(self, side, u=None):
        """Height v of the diaphragm under lung `side` (-1: image left, 1: right) at `u`."""
        a = self.anat
        u = self.u if u is None else u
        cx = 0.5 + side * a["lung_sep"]
        # The right hemidiaphragm (image left) sits higher, over the liver.
        base = a["dome_base"] - (0.02 if side < 0 else 0)
        return base - a["dome_h"] * np.clip(1 - ((u - cx) / (1.2 * a["lung_w"])) ** 2, 0, 1)

    def lung_point(self, rng, side, zone=(-0.75, 0.4), max_r=0.8):
        """Samples a point (u, v) well inside lung `side`, vertically within `zone`."""
        a = self.anat
        for _ in range(100):
            la, lb = rng.uniform(-0.8, 0.85), rng.uniform(*zone) * a["lung_top"]
            u, v = 0.5 + side * (a["lung_sep"] + la * a["lung_w"]), a["lung_y"] + lb
            inside = _lung_radius(la, lb, a["lung_top"]) < max_r and v < self.dome(side, u) - 0.03
            clear_of_heart = side < 0 or abs(u - 0.5 - a["heart_x"]) > 1.3 * a["heart_w"]
            if inside and (clear_of_heart or v < self.heart_y - a["heart_h"]):
                return u, v
        return 0.5 + side * a["lung_sep"], a["lung_y"]


class Chest(_Frame):
    """The shared part of a patient's images in one view: geometry and static attenuation.

    Signs read the geometry and draw into the per-image layers that `clear` resets.
    """

    def __init__(self, size, anat, view, female, rng):
        super().__init__(size, anat)
        # The static anatomy is smooth: drawing it at half resolution is 4x cheaper, and the
        # film blur hides the difference.
        half = _Frame(max(size // 2, 8), anat)
        self.body = _upsample(_body(half, rng, female, view), size)
        self.vessels = _upsample(_vessels(half, rng), size)
        self.clear()

    def clear(self):
        shape = (self.size, self.size)
        # Fraction of lung air replaced by fluid or tissue; the bases start less lucent because
        # more soft tissue overlaps them.
        self.opacity = np.clip(0.25 * (self.v - self.anat["lung_y"]), 0, 0.2)
        self.dense = np.zeros(shape, np.float32)  # extra attenuation on top of the anatomy
        self.lucency = np.zeros(shape, np.float32)  # extra air (pneumothorax, emphysema)
        self.no_vessels = np.zeros(shape, np.float32)  # where lung markings are absent


def _upsample(img, size):
    img = Image.fromarray(img.astype(np.float32), "F")
    return np.asarray(img.resize((size, size), Image.BILINEAR))


def _body(c: _Frame, rng, female, view):
    """Attenuation of everything but lung air: soft tissue, bones, mediastinum, abdomen."""
    a, u, v, e = c.anat, c.u, c.v, c.edge
    t = np.abs(u - 0.5)
    # A rounded trapezoid: sloping shoulders, then the chest wall, wider at the base.
    half = a["body_w"] + 0.05 * np.clip((v - 0.2) / 0.6, 0, 1)
    half = half + 0.07 * np.exp(-(((v - 0.12) / 0.08) ** 2))
    top = 0.02 + 0.1 * np.sqrt(np.clip((t - 0.07) / 0.4, 0, 1))
    body = _soft(half - t, 0.015) * _soft(v - top, 0.02)
    d = body * (0.3 + 0.75 * np.sqrt(np.clip(1 - (t / (half + 0.05)) ** 2, 0, 1)))
    wall = a["lung_sep"] + a["lung_w"] + 0.035
    warp = 0.12 * _smooth_noise(rng, c.size, 5)
    # Posterior ribs: one periodic profile, warped so that each rib runs down the chest wall.
    spacing = 0.062 if view == "PA" else 0.056
    phase = (v + 0.12 * t - 1.25 * t**2) / spacing + a["rib_phase"] + warp
    ribs = np.clip(np.cos(2 * np.pi * phase) + 0.3, 0, 1.3) ** 2
    ribs *= _soft(wall - t, 0.02) * _soft(t - 0.03, 0.02) * _soft(v - 0.1, 0.02)
    ribs *= _soft(0.72 - v + 0.4 * t, 0.04)
    anterior = np.clip(np.cos(2 * np.pi * ((v + 0.4 * t) / 0.085 + warp)), 0, 1) ** 4
    anterior *= _soft(wall - 0.05 - t, 0.05) * _soft(0.62 - v, 0.03) * _soft(t - 0.07, 0.03)
    d += 0.07 * ribs + 0.04 * anterior
    clav_y = (0.17 if view == "PA" else 0.13) - 0.16 * (t - 0.05)
    d += 0.18 * _soft(0.011 - np.abs(v - clav_y), e) * _soft(t - 0.05, e) * _soft(0.33 - t, 0.02)
    spine = _soft(0.03 - t, e) * (0.8 + 0.2 * np.cos(2 * np.pi * v / 0.05)) * _soft(v - 0.02, 0.02)
    mediastinum = _soft(np.where(v > c.heart_y, 0.035, 0.075) - t, 0.03) * _soft(v - 0.1, 0.05)
    abdomen = _soft(np.minimum(v - c.dome(-1), v - c.dome(1)), 0.03) * _soft(wall - t, 0.08)
    d += 0.2 * spine + 0.35 * np.maximum(np.maximum(c.heart, mediastinum), 0.85 * abdomen)
    trachea = _soft(0.011 - t, e) * _soft(0.32 - v, 0.02) * _soft(v - 0.03, 0.02)
    d += 0.15 * _soft(0.035 - _hypot(u - 0.545, v - 0.31), 0.01) - 0.25 * trachea  # + aortic knob
    if female:
        for side in (-1, 1):
            d += 0.15 * _soft(1 - _hypot((u - 0.5 - side * 0.25) / 0.17, (v - 0.7) / 0.13), 0.15)
    bubble = _hypot((u - 0.62) / 0.05, (v - c.dome(1, 0.62) - 0.05) / 0.03)
    return d - 0.3 * rng.uniform(0.2, 1.0) * _soft(1 - bubble, 0.2)  # gastric air, left dome


def _vessels(c: _Frame, rng):
    """Lung markings: tapering streaks that radiate from each hilum, and the hila themselves."""
    a, out = c.anat, 0.0
    wobble = 2.0 * _smooth_noise(rng, c.size, 9)
    breakup = np.clip(0.6 + _smooth_noise(rng, c.size, 30), 0, 1)  # streaks become segments
    for side in (-1, 1):
        du, dv = c.u - (0.5 + side * 0.08), c.v - a["lung_y"] - 0.02
        rho, phi = _hypot(du, dv), np.arctan2(dv, side * du)
        streak = 0.5 + 0.5 * np.cos(a["vessel_n"] * phi + wobble + 30 * rho + a["vessel_phase"])
        streak = streak * streak
        # Fading at both ends: vessels taper outwards and merge into the hilum shadow inwards.
        fade = np.exp(-rho / 0.14) * (1 - np.exp(-((rho / 0.05) ** 2)))
        out = out + streak * streak * fade * c.sides[side]["mask"] * breakup
        out = out + 0.8 * np.exp(-((du / 0.035) ** 2 + (dv / 0.06) ** 2))
    return out


# ---- The 14 signs: sign(chest, g, r) draws into the chest's layers and returns a mask. ----
# `g` is seeded per patient and finding, so a finding keeps its place across follow-ups; `r` is
# the image's own generator, for what changes from film to film (severity, texture).


def _disk(c, u0, v0, radius, lobulation=0.0, rng=None):
    du, dv = c.u - u0, c.v - v0
    edge = max(c.edge, 0.15 * radius)
    if lobulation:
        ang = np.arctan2(dv, du)
        wave = np.sin(3 * ang + rng.uniform(0, 6.3)) + 0.6 * np.sin(5 * ang + rng.uniform(0, 6.3))
        radius = radius * (1 + lobulation * wave)
    return _soft(radius - _hypot(du, dv), edge)


def nodule(c, g, r):
    m = _disk(c, *c.lung_point(g, _side(g)), g.uniform(0.015, 0.03))
    c.opacity = np.maximum(c.opacity, m * r.uniform(0.3, 0.7))
    return m


def mass(c, g, r):
    m = _disk(c, *c.lung_point(g, _side(g), max_r=0.65), g.uniform(0.035, 0.065), 0.12, g)
    c.opacity = np.maximum(c.opacity, m * r.uniform(0.25, 0.8))
    c.dense += 0.05 * m
    return m


def effusion(c, g, r):
    side = _side(g)
    s, a = c.sides[side], c.anat
    depth = g.uniform(0.025, 0.08) * r.uniform(0.8, 1.2)
    lateral = np.clip(side * (c.u - s["cx"]) / a["lung_w"] + 1, 0, 2.2)
    level = a["dome_base"] - depth * (1 + 0.6 * lateral**2)  # meniscus up the chest wall
    fluid = _soft(c.v - level, 0.012) * s["mask"]
    c.opacity = np.maximum(c.opacity, fluid * r.uniform(0.3, 0.85))
    return fluid


def pneumothorax(c, g, r):
    s = c.sides[_side(g)]
    centre = float(g.choice((-1.4, -0.8, -0.2))) + g.normal(0, 0.15)  # apex ... lateral wall
    width = g.uniform(0.12, 0.4) * r.uniform(0.8, 1.2)
    width = width * np.exp(-(((s["angle"] - centre) / 0.6) ** 2))
    edge = 1 - width
    present = s["mask"] * (width > 0.03)
    gap = _soft(s["r"] - edge, 0.01) * present
    c.lucency = np.maximum(c.lucency, 0.25 * gap)
    c.no_vessels = np.maximum(c.no_vessels, gap)
    c.dense += 0.3 * np.exp(-(((s["r"] - edge) / 0.015) ** 2)) * present  # visceral pleura
    # The collapsed lung beneath the pleural line is denser.
    compressed = np.exp(-(((edge - s["r"]) / 0.12) ** 2)) * _soft(edge - s["r"], 0.01)
    c.opacity = np.maximum(c.opacity, 0.2 * compressed * np.clip(width / 0.1, 0, 1) * s["mask"])
    return gap


def atelectasis(c, g, r):
    side = _side(g)
    u0, v0 = c.lung_point(g, side, zone=(0.0, 0.4))
    angle = math.radians(g.uniform(-25, 25))
    cos, sin = math.cos(angle), math.sin(angle)
    along = (c.u - u0) * cos + (c.v - v0) * sin
    across = (c.v - v0) * cos - (c.u - u0) * sin
    if g.random() < 0.6:  # plate-like band
        half_len, thick = g.uniform(0.03, 0.07), g.uniform(0.004, 0.009)
        m = _soft(half_len - np.abs(along), 0.01) * _soft(thick - np.abs(across), c.edge)
    else:  # wedge
        m = _soft(along, 0.005) * _soft(g.uniform(0.06, 0.1) - along, 0.01)
        m = m * _soft(0.3 * along - np.abs(across), c.edge)
    m = m * c.sides[side]["mask"]
    c.opacity = np.maximum(c.opacity, m * r.uniform(0.25, 0.65))
    return m


def _patch(c, rng, u0, v0, ru, rv, cells, gain):
    """Irregular opacity: an ellipse eroded by smooth noise."""
    ell = _hypot((c.u - u0) / ru, (c.v - v0) / rv)
    return np.clip(gain * (1 - ell) + 0.35 * _smooth_noise(rng, c.size, cells), 0, 1)


def consolidation(c, g, r):
    side = _side(g)
    u0, v0 = c.lung_point(g, side, zone=(-0.3, 0.4), max_r=0.7)
    m = _patch(c, r, u0, v0, g.uniform(0.045, 0.08), g.uniform(0.04, 0.07), 14, 3.0)
    m = np.clip(m * 2, 0, 1) * c.sides[side]["mask"]
    # Air bronchograms: dark tubes running towards the hilum inside the opacity.
    phi = np.arctan2(c.v - c.anat["lung_y"], side * (c.u - 0.5 - side * 0.09))
    tubes = np.clip(np.cos(22 * phi + 0.8 * _smooth_noise(r, c.size, 10)), 0, 1) ** 12
    c.opacity = np.maximum(c.opacity, m * (r.uniform(0.45, 0.9) - 0.4 * tubes))
    return m


def infiltration(c, g, r):
    total, side = 0, _side(g)  # one lung, so that one box is tight around all the patches
    for _ in range(g.integers(1, 4)):
        u0, v0 = c.lung_point(g, side, zone=(-0.4, 0.4))
        m = _patch(c, r, u0, v0, g.uniform(0.05, 0.1), g.uniform(0.05, 0.1), 20, 1.6)
        total = np.maximum(total, m * c.sides[side]["mask"])
    c.opacity = np.maximum(c.opacity, _blur(total, 1.5 * c.size / 256) * r.uniform(0.12, 0.4))
    return total > 0.15


def pneumonia(c, g, r):
    s = c.sides[_side(g)]
    fissure = c.anat["lung_y"] + g.uniform(-0.05, 0.05)
    if g.random() < 0.5:  # lower or middle lobe: sharp fissure above, fading downwards
        lobe = _soft(c.v - fissure, c.edge) * _soft(fissure + g.uniform(0.12, 0.2) - c.v, 0.06)
    else:  # upper lobe: sharp fissure below
        lobe = _soft(fissure - c.v, c.edge) * _soft(c.v - fissure + g.uniform(0.1, 0.18), 0.06)
    m = lobe * s["mask"] * np.clip(0.75 + 0.35 * _smooth_noise(r, c.size, 8), 0, 1)
    c.opacity = np.maximum(c.opacity, m * r.uniform(0.3, 0.7))
    return m > 0.3


def edema(c, g, r):
    m, su, sv = 0, g.uniform(0.08, 0.12), g.uniform(0.1, 0.14)
    for side in (-1, 1):  # bilateral and perihilar: the batwing
        du, dv = (c.u - 0.5 - side * 0.1) / su, (c.v - c.anat["lung_y"] - 0.02) / sv
        m = np.maximum(m, np.exp(-(du**2) - dv**2) * c.sides[side]["mask"])
    c.opacity = np.maximum(c.opacity, m * r.uniform(0.15, 0.45))
    c.dense += 0.06 * m * np.clip(_smooth_noise(r, c.size, 24), 0, 1)
    return m > 0.35


def fibrosis(c, g, r):
    # Reticulation: the zero crossings of two fine noise fields form an irregular net of lines.
    cells = int(g.integers(28, 40))
    net = np.maximum(
        np.exp(-((_smooth_noise(r, c.size, cells) / 0.12) ** 2)),
        np.exp(-((_smooth_noise(r, c.size, cells) / 0.12) ** 2)),
    )
    sides = (-1, 1) if g.random() < 0.7 else (_side(g),)
    y = c.v - c.anat["lung_y"]
    zone = _soft(y, 0.03) if g.random() < 0.7 else _soft(-0.05 - y, 0.03)  # lower or upper
    region = 0
    for side in sides:
        s = c.sides[side]
        region = np.maximum(region, _soft(s["r"] - 0.6, 0.05) * s["mask"] * zone)
    c.opacity = np.maximum(c.opacity, region * (0.05 + net * r.uniform(0.2, 0.6)))
    return region > 0.5


def pleural_thickening(c, g, r):
    s = c.sides[_side(g)]
    centre = float(g.choice((-1.5, -0.6, 0.2))) + g.normal(0, 0.2)  # apical cap ... lateral
    arc = np.exp(-(((s["angle"] - centre) / g.uniform(0.3, 0.6)) ** 2))
    band = _soft(s["r"] - 1 + g.uniform(0.08, 0.18) * arc, 0.02) * s["mask"] * (arc > 0.2)
    c.opacity = np.maximum(c.opacity, band * r.uniform(0.6, 0.95))
    c.dense += 0.15 * band
    return band


def hernia(c, g, r):
    # A hiatal hernia: a rounded retrocardiac density whose gas cap sits on a flat fluid level.
    u0, radius = 0.5 + g.uniform(0.0, 0.06), g.uniform(0.045, 0.07)
    v0 = c.heart_y + g.uniform(0.0, 0.05)
    m = _disk(c, u0, v0, radius)
    gas = m * _soft(v0 + radius * g.uniform(-0.3, 0.3) - c.v, c.edge)
    wall = m - _disk(c, u0, v0, radius * 0.85)
    c.dense += m * r.uniform(0.15, 0.3) - gas * r.uniform(0.5, 0.8) + 0.15 * wall
    return m


def cardiomegaly(c, g, r):
    return c.heart  # `Chest` drew the heart enlarged; the box is the whole heart


def emphysema(c, g, r):
    # `Chest` drew the large lungs and flat domes; here the lungs lose density and markings.
    c.lucency = np.maximum(c.lucency, 0.15 * c.anat["emphysema"] * c.lung)
    c.no_vessels = np.maximum(c.no_vessels, 0.5 * c.anat["emphysema"] * c.lung)
    return c.lung


SIGNS = {
    "Atelectasis": atelectasis,
    "Cardiomegaly": cardiomegaly,
    "Consolidation": consolidation,
    "Edema": edema,
    "Effusion": effusion,
    "Emphysema": emphysema,
    "Fibrosis": fibrosis,
    "Hernia": hernia,
    "Infiltration": infiltration,
    "Mass": mass,
    "Nodule": nodule,
    "Pleural_Thickening": pleural_thickening,
    "Pneumonia": pneumonia,
    "Pneumothorax": pneumothorax,
}
assert set(SIGNS) == set(LABELS)


def chest_anatomy(anatomy, view, labels):
    """The anatomy of one image: the patient's, changed by the view and by findings that
    deform it (Cardiomegaly, Emphysema). Images sharing it can share one `Chest`."""
    a = dict(anatomy)
    if view == "AP":  # supine film: magnified heart, poorer inspiration
        a.update(heart_w=a["heart_w"] * 1.06, dome_base=a["dome_base"] - 0.02, hi=a["hi"] * 0.95)
    if "Cardiomegaly" in labels:
        a.update(heart_w=a["heart_w"] * a["cardiomegaly"], heart_h=a["heart_h"] * 1.1)
    if "Emphysema" in labels:
        e = a["emphysema"]
        a.update(
            dome_h=a["dome_h"] * (1 - 0.7 * e),
            dome_base=a["dome_base"] + 0.03 * e,
            lung_top=a["lung_top"] * (1 + 0.06 * e),
            lung_w=a["lung_w"] * (1 + 0.05 * e),
            heart_w=a["heart_w"] * (1 - 0.1 * e),
        )
    return a


def _box(mask, dx, dy, size):
    """(x, y, w, h) of the tight box around the mask after shifting it by (dx, dy) px."""
    mask = np.asarray(mask, np.float32)
    # Half the peak, not 0.5: a faint sign drawn at a pixel's scale still gets its box.
    hit = mask >= 0.5 * mask.max() if mask.max() > 0 else mask > 0
    rows, cols = np.nonzero(hit.any(axis=1))[0] + dy, np.nonzero(hit.any(axis=0))[0] + dx
    rows, cols = rows[(rows >= 0) & (rows < size)], cols[(cols >= 0) & (cols < size)]
    if not len(rows) or not len(cols):
        return None
    return (
        float(cols[0]),
        float(rows[0]),
        float(cols[-1] - cols[0] + 1),
        float(rows[-1] - rows[0] + 1),
    )


def render(chest, labels, image_rng, sign_rngs):
    """Draws one image.

    Args:
      chest: the `Chest` for this patient, view and `chest_anatomy`.
      labels: the set of pathology names present in this image.
      image_rng: generator for this image (position, exposure, noise, severity).
      sign_rngs: label -> generator seeded per patient and label.

    Returns:
      (uint8 array of shape (size, size), list of (label, (x, y, w, h)) in pixels).
    """
    c, a, size = chest, chest.anat, chest.size
    # Separate streams, so that the same film with and without a finding differs only by its sign.
    severity_rng, noise_rng = image_rng.spawn(2)
    dx, dy = (int(round(x)) for x in image_rng.normal(0, 0.012 * size, 2))  # repositioning
    lo, hi = a["lo"] + image_rng.normal(0, 0.015), a["hi"] + image_rng.normal(0, 0.015)
    gamma = a["gamma"] * image_rng.uniform(0.93, 1.07)
    c.clear()
    boxes = []
    for label in LABELS:
        if label in labels:
            box = _box(SIGNS[label](c, sign_rngs[label], severity_rng), dx, dy, size)
            if box is not None:
                boxes.append((label, box))
    air = a["air"] * (1 + c.lucency) * (1 - c.opacity)
    d = c.body - air * c.lung + c.dense
    d = d + 0.4 * c.vessels * (1 - c.no_vessels) * (1 - c.opacity)
    img = np.clip((1 - np.exp(-1.5 * np.clip(d, 0, None)) - lo) / (hi - lo), 0, 1)
    img = _blur(img**gamma, a["blur"] * size / 256)
    # Uniform noise of the wanted standard deviation: as good as Gaussian here, and 3x cheaper.
    img = img + 3.46 * a["noise"] * (noise_rng.random(img.shape, dtype=np.float32) - 0.5)
    img = np.clip(img + 0.02 * _smooth_noise(noise_rng, size, 4), 0, 1)
    img = np.pad(img, ((max(dy, 0), max(-dy, 0)), (max(dx, 0), max(-dx, 0))), mode="edge")
    img = img[max(-dy, 0) : max(-dy, 0) + size, max(-dx, 0) : max(-dx, 0) + size]
    return (img * 255 + 0.5).astype(np.uint8), boxes
