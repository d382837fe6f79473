"""Calibration of per-label probabilities: ECE (equal-width and equal-mass bins), maximum
calibration error, Brier score, reliability-diagram bins, patient-bootstrap CIs.

The multi-label reading (docs/protocols.md, "Calibration: ECE variants and temperature
scaling"): each label is its own binary problem. Its images are binned by the predicted
probability p of the finding, and a bin's gap is |mean p - share of positives|, the
reliability diagram of P(finding). It is not Guo et al.'s top-label confidence
max(p, 1 - p) against accuracy.

    equal-width   15 bins of [0, 1], right-closed: ((m-1)/15, m/15], the first [0, 1/15]
                  (p = 0 exactly belongs somewhere); empty bins add nothing
    equal-mass    the images sorted by p (stable: ties keep their order) and cut at sorted
                  positions floor(r n / 15), r = 0..15: bins of floor or ceil of n / 15 images

ECE = sum over bins of (bin images / n) * gap; MCE = the largest gap of a non-empty
equal-width bin; Brier = mean (p - y)^2.

Every measure is computed from running sums over the images sorted by p, under integer
image weights (B, N) (`Cumulative`), so the point estimate (weights all 1) and each
patient-bootstrap resample (weights: how often the image's patient was drawn,
`cxr.stats.bootstrap`) run the same code: a resample is the data set holding each image
that many times, and its equal-mass bins are cut on that data set's own sorted positions.
"""

import math

import numpy as np

from cxr.stats import bootstrap

BINS = 15  # Guo et al.'s M = 15, for both variants
MEASURES = ("ece", "adaptive_ece", "mce", "brier")


def equal_width_index(p, bins=BINS):
    """Each probability's equal-width bin in [0, bins): ((m-1)/M, m/M], p = 0 in the first."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    # side="left": p equal to an inner edge m/M falls below it, in the bin it closes.
    return np.searchsorted(edges[1:-1], np.asarray(p, np.float64), side="left")


class Cumulative:
    """Running sums over one label's images sorted by p, under image weights (B, N).

    `images`, `p_sums` and `y_sums` (B, N + 1): the weight, the weighted sum of p and of
    y of the first j sorted images, j = 0..N. Row b is the data set holding image i
    weights[b, i] times, sorted by p (stable: ties keep their order), each image's copies
    side by side; every bin of either kind is a stretch of it, so its sums are
    differences of these running sums. Counts are int32, exact (and ~3x faster than
    int64, as `cxr.stats.bootstrap.weighted_auroc` found): a row sums to at most the
    resample's images, far below 2**31.
    """

    def __init__(self, p, y, weights):
        order = np.argsort(np.asarray(p, np.float64), kind="stable")
        self.p = np.asarray(p, np.float64)[order]
        weights = np.asarray(weights)[:, order]
        y = np.asarray(y)[order] > 0.5
        self.y = y.astype(np.float64)
        start = np.zeros((len(weights), 1), np.int32)
        self.images = np.concatenate([start, np.cumsum(weights, axis=1, dtype=np.int32)], 1)
        self.y_sums = np.concatenate([start, np.cumsum(weights * y, axis=1, dtype=np.int32)], 1)
        p_sums = np.cumsum(weights * self.p, axis=1, dtype=np.float64)
        self.p_sums = np.concatenate([start.astype(np.float64), p_sums], 1)
        self.brier_sums = weights @ (self.p - y) ** 2

    def at_images(self, index):
        """(images, sum of p, sum of y) per bin whose edges are sorted image indexes (M + 1,)."""
        return tuple(np.diff(c[:, index], axis=1) for c in (self.images, self.p_sums, self.y_sums))

    def at_positions(self, cuts):
        """(images, sum of p, sum of y) per bin whose edges are positions (B, M + 1) in each
        row's expanded data set: a cut inside an image's copies splits them."""
        # Per row, the last j with images[j] <= cut: the sorted image the cut falls in.
        j = np.stack([np.searchsorted(row, c, "right") for row, c in zip(self.images, cuts, strict=True)]) - 1  # fmt: skip
        take = np.take_along_axis
        inside = cuts - take(self.images, j, 1)  # copies of sorted image j before the cut
        p_next = self.p[np.minimum(j, len(self.p) - 1)]
        sums = (
            cuts.astype(np.float64),
            take(self.p_sums, j, 1) + inside * p_next,
            take(self.y_sums, j, 1) + inside * self.y[np.minimum(j, len(self.p) - 1)],
        )
        return tuple(np.diff(c, axis=1) for c in sums)

    def equal_width(self, bins=BINS):
        """Per-bin (images, sum of p, sum of y), each (B, bins), of equal-width bins."""
        inner = np.searchsorted(self.p, np.linspace(0.0, 1.0, bins + 1)[1:-1], side="right")
        return self.at_images(np.concatenate([[0], inner, [len(self.p)]]))

    def equal_mass(self, bins=BINS):
        """Per-bin (images, sum of p, sum of y), each (B, bins), of equal-mass bins: cuts at
        positions floor(r n_b / bins), r = 0..bins, n_b the row's images."""
        total = self.images[:, -1:]
        return self.at_positions((np.arange(bins + 1) * total) // bins)


def errors(mass, sum_p, sum_y):
    """(ECE, MCE), each (B,), of per-bin sums; NaN for a row without images."""
    total = mass.sum(axis=1)
    gap_mass = np.abs(sum_p - sum_y)
    with np.errstate(invalid="ignore", divide="ignore"):
        ece = gap_mass.sum(axis=1) / total
        gaps = np.where(mass > 0, gap_mass / np.where(mass > 0, mass, 1.0), -np.inf)
    mce = gaps.max(axis=1)
    mce[~np.isfinite(mce)] = math.nan
    ece[total == 0] = math.nan
    return ece, mce


def measures(p, y, weights, bins=BINS):
    """{measure: (B,)} of `MEASURES` for each row of integer image weights (B, N)."""
    sums = Cumulative(p, y, weights)
    ece, mce = errors(*sums.equal_width(bins))
    adaptive, _ = errors(*sums.equal_mass(bins))
    total = sums.images[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        brier = sums.brier_sums / total
    return {"ece": ece, "adaptive_ece": adaptive, "mce": mce, "brier": brier}


def _once(p):
    return np.ones((1, len(p)), np.int64)


def point(p, y, bins=BINS):
    """{measure: float} of one label's probabilities `p` and truth `y`."""
    return {k: float(v[0]) for k, v in measures(p, y, _once(p), bins).items()}


def reliability_bins(p, y, bins=BINS):
    """A label's reliability diagram: per equal-width bin its edges, images, positives,
    mean probability and share of positives (None for an empty bin)."""
    mass, sum_p, sum_y = (v[0] for v in Cumulative(p, y, _once(p)).equal_width(bins))
    edges = np.linspace(0.0, 1.0, bins + 1)
    rows = []
    for m in range(bins):
        n = int(mass[m])
        rows.append(
            {
                "low": float(edges[m]),
                "high": float(edges[m + 1]),
                "images": n,
                "positives": int(round(sum_y[m])),
                "mean_probability": float(sum_p[m] / n) if n else None,
                "positive_share": float(sum_y[m] / n) if n else None,
            }
        )
    return rows


def bootstrap_measures(probs, labels, patients, known=None, *, num_bootstrap, seed, bins=BINS):
    """Per-label measures of patient-bootstrap resamples, and their macro means.

    Args:
        probs, labels: (N, L). patients: (N,) patient ids.
        known: (N, L) 0/1, where a label's truth is known; None: everywhere.
        num_bootstrap, seed: as `cxr.stats.bootstrap.resample_chunks`.

    Returns:
        {measure: (num_bootstrap, L)}; a label's images with unknown truth weigh 0.
    """
    probs, labels = np.asarray(probs, np.float64), np.asarray(labels, np.float64)
    known = np.ones(labels.shape, bool) if known is None else np.asarray(known) > 0
    groups, num_patients = bootstrap.patient_index(patients)
    out = {k: np.full((num_bootstrap, probs.shape[1]), math.nan) for k in MEASURES}
    chunks = bootstrap.resample_chunks(num_patients, num_bootstrap, seed, num_images=len(probs))
    for start, counts in chunks:
        for column in range(probs.shape[1]):
            rows = known[:, column]
            if not rows.any():
                continue
            weights = counts[:, groups[rows]]
            found = measures(probs[rows, column], labels[rows, column], weights, bins)
            for k, values in found.items():
                out[k][start : start + len(counts), column] = values
    return out


def report(probs, labels, patients, label_names, known=None, *, num_bootstrap, seed, bins=BINS):
    """Per-label and macro measures with 95% patient-bootstrap percentile CIs.

    Returns:
        {"per_label": {label: {measure: {"value", "ci_low", "ci_high", "n_valid_resamples"},
        "images", "positives", "reliability"}}, "macro": {measure: {...}, "n_labels"}}.
        A label without known images has None values and is left out of the macro mean.
    """
    probs, labels = np.asarray(probs, np.float64), np.asarray(labels, np.float64)
    known = np.ones(labels.shape, bool) if known is None else np.asarray(known) > 0
    resamples = bootstrap_measures(
        probs, labels, patients, known, num_bootstrap=num_bootstrap, seed=seed, bins=bins
    )
    per_label, values = {}, {k: [] for k in MEASURES}
    for i, label in enumerate(label_names):
        rows = known[:, i]
        p, y = probs[rows, i], labels[rows, i]
        found = point(p, y, bins) if rows.any() else dict.fromkeys(MEASURES, math.nan)
        entry = {"images": int(rows.sum()), "positives": int(y.sum())}
        for k in MEASURES:
            values[k].append(found[k])
            entry[k] = {"value": found[k], **bootstrap.percentile_ci(resamples[k][:, i])}
        entry["reliability"] = reliability_bins(p, y, bins)
        per_label[label] = entry
    macro = {"n_labels": int(np.isfinite(values["ece"]).sum())}
    for k in MEASURES:
        defined = np.isfinite(values[k])
        with np.errstate(invalid="ignore"):
            macro_resamples = resamples[k][:, defined].mean(axis=1) if defined.any() else []
        value = float(np.mean(np.asarray(values[k])[defined])) if defined.any() else math.nan
        macro[k] = {"value": value, **bootstrap.percentile_ci(macro_resamples)}
    return {"bins": bins, "num_bootstrap": num_bootstrap, "per_label": per_label, "macro": macro}
