"""The pointing game (Zhang et al., ECCV 2016), its two baselines and their p-values.

A heatmap hits a ground-truth box when its maximum (see `peak`) lies in the box;
Zhang et al. also count a maximum within 15 pixels of the box. Their 15 px are
pixels of the image itself (their maps are compared with boxes at the image's own
resolution), so for NIH's 1024 x 1024 images the tolerance is 15/1024 of the side
(`ZHANG_TOLERANCE`), whatever the size of the map: 3.3 px of a 224 px map, 1.9 px
of a 128 px one. Coordinates are normalised to [0, 1] on both axes and distances
taken in them, which is Euclidean in pixels for square images like NIH's.

Two baselines stand beside the model:

- uniform random: a heatmap of i.i.d. pixels peaks at a uniformly random pixel,
  so its hit chance for a box is the share of pixel centres within the tolerance
  of the box (exact, no sampling; `random_chance`);
- centre: a heatmap peaked at the image centre (`centre_heatmap`), which points
  at the same place for every box. Findings cluster near the middle of a chest
  X-ray, so this is the null that a map must beat to show it found anything.

A Grad-CAM map without positive evidence is all zero (`cxr.saliency.gradcam`): it has no
peak, points nowhere and misses every box (`is_empty`).
"""

import math

import numpy as np

ZHANG_TOLERANCE_PX = 15  # Zhang et al.'s tolerance, in pixels of the image itself
NIH_IMAGE_SIDE = 1024  # NIH's PNGs are 1024 x 1024; BBox_List_2017.csv is in their pixels
ZHANG_TOLERANCE = ZHANG_TOLERANCE_PX / NIH_IMAGE_SIDE  # as a fraction of the side


def is_empty(heatmap):
    """Whether a heatmap is empty: constant (e.g. all zero), or of no pixel.

    The one definition of an empty map in cxr: an empty map has no peak and no region,
    so it points nowhere, gives no box and is never drawn as an overlay
    (`cxr.saliency.gallery`, `cxr predict`). It holds for signed maps too: a map that
    varies is not empty even if no value is above 0.
    """
    heatmap = np.asarray(heatmap)
    return bool(heatmap.size == 0 or heatmap.max() == heatmap.min())


def peak(heatmap):
    """The normalised centre (y, x) of the heatmap's hottest pixel.

    Ties go to the pixel nearest the image centre (then the first in row-major
    order). That is where an upsampled coarse map peaks: bilinear upsampling
    holds a border cell's value flat from the cell's centre out to the image
    edge, so the tied plateau of a hot border cell runs from its centre to
    the border, and its inner end is the cell's centre, not the image corner.

    Args:
        heatmap: (H, W) array.

    Returns:
        (y, x) in [0, 1], pixel centres at `(row + 0.5) / H`, `(col + 0.5) / W`.
    """
    heatmap = np.asarray(heatmap)
    height, width = heatmap.shape
    rows, cols = np.nonzero(heatmap == heatmap.max())
    ys, xs = (rows + 0.5) / height, (cols + 0.5) / width
    nearest = np.argmin((ys - 0.5) ** 2 + (xs - 0.5) ** 2)  # first of equals: row-major
    return float(ys[nearest]), float(xs[nearest])


def distance_to_box(y, x, boxes):
    """Euclidean distance of points (y, x) to boxes (..., 4); 0 inside and on the edges."""
    boxes = np.asarray(boxes, dtype=np.float64)
    dy = np.maximum(np.maximum(boxes[..., 0] - y, y - boxes[..., 2]), 0.0)
    dx = np.maximum(np.maximum(boxes[..., 1] - x, x - boxes[..., 3]), 0.0)
    return np.sqrt(dy * dy + dx * dx)


def pointing_hit(heatmap, box, tolerance=0.0):
    """Whether the heatmap's peak lies in the box, or within `tolerance` of it.

    Args:
        heatmap: (H, W) array.
        box: Normalised `[ymin, xmin, ymax, xmax]`.
        tolerance: In units of the image side; 0 for the strict game,
            `ZHANG_TOLERANCE` for Zhang et al.'s on an NIH image.

    Returns:
        True for a hit (edges included); False for an empty map.
    """
    if is_empty(heatmap):
        return False
    return bool(distance_to_box(*peak(heatmap), box) <= tolerance)


def random_chance(boxes, tolerance, shape):
    """Each box's hit chance for a uniform random heatmap of `shape`, exactly.

    Args:
        boxes: (M, 4) normalised boxes.
        tolerance: Scalar or (M,), as in `pointing_hit`.
        shape: (H, W) of the heatmaps.

    Returns:
        (M,) shares of pixel centres within the tolerance of each box.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    tolerance = np.broadcast_to(np.asarray(tolerance, dtype=np.float64), (len(boxes),))
    height, width = shape
    y = (np.arange(height)[:, None] + 0.5) / height
    x = (np.arange(width)[None, :] + 0.5) / width
    return np.array(
        [(distance_to_box(y, x, b) <= t).mean() for b, t in zip(boxes, tolerance, strict=True)]
    )


def centre_heatmap(height, width):
    """A cone peaked at the image centre, falling linearly to 0 at the corners.

    Its peak is the pixel nearest the centre (one of the four central pixels of
    an even-sized map, by `peak`'s tie rule). Any radial profile points the same;
    the cone's matters for Wang et al.'s boxes: at 60 of 255 its region spans the
    whole image, at 180 a central square of 0.41 of the side (up to pixel edges).

    Returns:
        float32 (H, W) in [0, 1], min-max normalised like a Grad-CAM map.
    """
    y = (np.arange(height)[:, None] + 0.5) / height - 0.5
    x = (np.arange(width)[None, :] + 0.5) / width - 0.5
    distance = np.hypot(y, x)
    cone = distance.max() - distance
    span = cone.max() - cone.min()
    return (cone / span if span > 0 else np.zeros_like(cone)).astype(np.float32)


def chance_p_value(hits, chance):
    """P(at least as many hits as `hits` when box i is hit with probability `chance[i]`).

    The boxes are independent, so the number of hits is Poisson-binomial; its
    upper tail is computed exactly (no normal approximation: rare boxes matter).

    Args:
        hits: (M,) booleans, the model's hits.
        chance: (M,) each box's hit probability under the null, e.g.
            `random_chance`, or `centre_null` for the centre baseline.

    Returns:
        The one-sided p-value; NaN for no boxes.
    """
    hits, chance = np.asarray(hits, dtype=bool), np.asarray(chance, dtype=np.float64)
    if not hits.size:
        return math.nan
    counts = np.array([1.0])  # distribution of the number of null hits so far
    for p in chance:
        counts = np.concatenate([counts * (1 - p), [0.0]]) + np.concatenate([[0.0], counts * p])
    return float(min(1.0, counts[int(hits.sum()) :].sum()))


def centre_null(hits, centre_hits):
    """Per-box null probabilities that make `chance_p_value` an exact McNemar test.

    The centre baseline is deterministic, so "better than the centre" is a
    paired question: on the boxes where exactly one of the two hits, does the
    model win more often than a fair coin would? Boxes both hit (or both miss)
    say nothing and keep the model's outcome (probability 1 or 0); on the others
    the model wins with probability 1/2 under the null. The Poisson-binomial tail
    of these is P(Binomial(b + c, 1/2) >= b), with b the boxes only the model
    hits and c those only the centre hits: the exact one-sided McNemar (sign)
    test. With no discordant box it is 1: no evidence either way.

    Args:
        hits: (M,) the model's hits.
        centre_hits: (M,) the centre heatmap's hits on the same boxes.

    Returns:
        (M,) probabilities in {0, 0.5, 1}.
    """
    hits, centre_hits = np.asarray(hits, dtype=bool), np.asarray(centre_hits, dtype=bool)
    return np.where(hits == centre_hits, hits.astype(np.float64), 0.5)


def mean_rate_p_value(hits, chance, groups, *, draws, seed):
    """P(the mean over groups of the hit rate is at least the model's), by simulation.

    The class-averaged rate weighs each box by 1 / (its group's size), so its
    null distribution is no longer Poisson-binomial; it is simulated with boxes
    hit independently with probability `chance`.

    Args:
        hits: (M,) the model's hits.
        chance: (M,) null hit probabilities (`random_chance` or `centre_null`).
        groups: (M,) group (label) of each box; every group present is averaged.
        draws: Simulated null data sets; the p-value is at least 1 / (draws + 1).
        seed: Seed of the simulation.

    Returns:
        (1 + null means >= observed) / (1 + draws), one-sided; NaN for no boxes.
    """
    hits, chance = np.asarray(hits, dtype=bool), np.asarray(chance, dtype=np.float64)
    if not hits.size:
        return math.nan
    _, group, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    weights = 1.0 / (len(sizes) * sizes[group])
    observed = weights @ hits
    rng = np.random.default_rng(seed)
    above, chunk = 0, max(1, 2**20 // len(hits))  # about 1M draws of one box at a time
    for start in range(0, draws, chunk):
        simulated = rng.random((min(chunk, draws - start), len(hits))) < chance
        # Means are sums of weights: compare with a tolerance of float rounding, not of chance.
        above += int((simulated @ weights >= observed - 1e-12).sum())
    return (1 + above) / (1 + draws)


def game_rates(kind, hits, chance, centre_hits):
    """One pointing game on some boxes: rates and exact p-values, keyed as table rows are.

    Args:
        kind: The game's key, "pointing" or "pointing_tol".
        hits: (M,) the model's hits.
        chance: (M,) the uniform random heatmap's hit chances (`random_chance`).
        centre_hits: (M,) the centre heatmap's hits.

    Returns:
        {kind, "random/"+kind, "centre/"+kind: rates (NaN for no boxes),
        "p_random/"+kind, "p_centre/"+kind: one-sided p-values (`chance_p_value`)}.
    """
    return {
        kind: _mean(hits),
        f"random/{kind}": _mean(chance),
        f"centre/{kind}": _mean(centre_hits),
        f"p_random/{kind}": chance_p_value(hits, chance),
        f"p_centre/{kind}": chance_p_value(hits, centre_null(hits, centre_hits)),
    }


def format_game(row, kind):
    """A row's game as text: rate, then each baseline with the p-value against it."""
    return (
        f"{row[kind]:.2f} (random {row['random/' + kind]:.2f}, p = {row['p_random/' + kind]:.1g}; "
        f"centre {row['centre/' + kind]:.2f}, p = {row['p_centre/' + kind]:.1g})"
    )


def _mean(values):
    """Mean as a Python float; NaN for no values, without numpy's warning."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()) if values.size else math.nan
