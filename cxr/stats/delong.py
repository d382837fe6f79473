"""DeLong's test for two correlated AUROCs, in Sun & Xu's fast O(N log N) form.

DeLong, DeLong & Clarke-Pearson 1988 ("Comparing the areas under two or more
correlated receiver operating characteristic curves: a nonparametric
approach", Biometrics 44(3)) estimate the covariance of AUROCs measured on the
same images from their structural components: for positive i, V10[i] is the
share of negatives it outscores; for negative j, V01[j] is the share of
positives that outscore it (ties count half, as in sklearn's AUROC). Then

    AUROC = mean(V10) = mean(V01),  S = cov(V10) / m + cov(V01) / n

for m positives and n negatives, the covariances taken across the models.
Sun & Xu 2014 ("Fast implementation of DeLong's algorithm for comparing the
areas under correlated receiver operating characteristic curves", IEEE Signal
Processing Letters 21(11)) get the components from midranks instead of all
m x n pairs: V10[i] = (Tz[i] - Tx[i]) / n and V01[j] = 1 - (Tz[j] - Ty[j]) / m,
with Tz the midranks among all images, Tx among positives, Ty among negatives.

DeLong treats images as independent. Images of one patient are correlated, so
its p-values are too small on ChestX-ray14; Obuchowski's clustered form
(`cxr.stats.obuchowski`) accounts for that and is `cxr.evaluation.compare_runs`'
headline test. The patient bootstrap accounts for it too, but over-rejects when
a label's positives come from a few patients (docs/results/type1.json).
"""

import math

import numpy as np

MIN_CLASS = 2  # the covariances across positives (negatives) need two of them


def midranks(values):
    """Ranks 1..N of `values`, tied values sharing the mean of their ranks (O(N log N)).

    Args:
        values: Scores (N,), finite.

    Returns:
        Float64 midranks (N,), e.g. [10, 20, 20, 30] -> [1, 2.5, 2.5, 4].
    """
    values = np.asarray(values)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(values)]  # exclusive
    # A tie group at sorted positions start..end-1 holds ranks start+1..end.
    group_rank = (starts + 1 + ends) / 2
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(group_rank, ends - starts)
    return ranks


def structural_components(scores, labels):
    """AUROCs and DeLong's structural components of R models on the same images.

    Args:
        scores: Scores (R, N) of R models, or (N,) for one.
        labels: 0/1 labels (N,), with at least one positive and one negative.

    Returns:
        (aurocs (R,), v10 (R, m), v01 (R, n)) for the m positives and n negatives.
    """
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    positive = np.asarray(labels) > 0.5
    m, n = int(positive.sum()), int((~positive).sum())
    v10, v01 = np.empty((len(scores), m)), np.empty((len(scores), n))
    for r, row in enumerate(scores):
        all_ranks = midranks(row)
        v10[r] = (all_ranks[positive] - midranks(row[positive])) / n
        v01[r] = 1 - (all_ranks[~positive] - midranks(row[~positive])) / m
    return v10.mean(axis=1), v10, v01


def delong_covariance(scores, labels):
    """AUROCs of R models on the same images and DeLong's estimate of their covariance.

    Args:
        scores: Scores (R, N) of R models.
        labels: 0/1 labels (N,), with at least `MIN_CLASS` positives and negatives.

    Returns:
        (aurocs (R,), covariance (R, R)).

    Raises:
        ValueError: with fewer than `MIN_CLASS` positives or negatives.
    """
    reason = degenerate_reason(labels)
    if reason:
        raise ValueError(reason)
    aurocs, v10, v01 = structural_components(scores, labels)
    # atleast_2d: np.cov of one model is a 0-d array.
    cov = np.cov(v10) / v10.shape[1] + np.cov(v01) / v01.shape[1]
    return aurocs, np.atleast_2d(cov)


def influence(scores, labels):
    """Each image's share of the AUROCs' deviation, scaled so phi @ phi.T is DeLong's covariance.

    Image i's entry is its centred structural component, (V10[i] - AUROC) /
    sqrt(m (m - 1)) for a positive and (V01[i] - AUROC) / sqrt(n (n - 1)) for a
    negative. Summing products over images extends DeLong's covariance to
    AUROCs of different labels measured on the same images (the macro mean):
    an image is a positive of one label and a negative of another, and its
    entries for both move together. That extension is ours, not the paper's:
    it is the delta-method (influence function) covariance for independently
    drawn images, equal to DeLong's for one label; tests/stats/test_delong.py checks
    it against an image bootstrap.

    Args:
        scores: Scores (R, N) of R models.
        labels: 0/1 labels (N,), with at least `MIN_CLASS` positives and negatives.

    Returns:
        (aurocs (R,), phi (R, N)).
    """
    aurocs, v10, v01 = structural_components(scores, labels)
    positive = np.asarray(labels) > 0.5
    m, n = v10.shape[1], v01.shape[1]
    phi = np.empty((len(aurocs), len(positive)))
    phi[:, positive] = (v10 - aurocs[:, None]) / math.sqrt(m * (m - 1))
    phi[:, ~positive] = (v01 - aurocs[:, None]) / math.sqrt(n * (n - 1))
    return aurocs, phi


def delong_test(scores_a, scores_b, labels):
    """DeLong's two-sided test that two models' AUROCs on the same images are equal.

    Args:
        scores_a: Scores (N,) of model a (in `cxr.evaluation.compare_runs`, the reference).
        scores_b: Scores (N,) of model b, on the same images in the same order.
        labels: 0/1 labels (N,).

    Returns:
        {"auroc_a", "auroc_b", "diff" (b - a), "se" (of diff), "z", "p", "reason"};
        numbers NaN and `reason` a string when the label has fewer than
        `MIN_CLASS` positives or negatives, else `reason` None.
    """
    reason = degenerate_reason(labels)
    if reason:
        return result(math.nan, math.nan, math.nan, reason)
    aurocs, cov = delong_covariance(np.stack([scores_a, scores_b]), labels)
    variance = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    return result(aurocs[0], aurocs[1], variance, None)


def delong_macro_test(scores_a, scores_b, labels):
    """DeLong's test of the difference in macro (mean per-label) AUROC of two models.

    The variance of the mean difference is that of the sum of each image's
    influence on it (`influence`), which accounts for labels sharing images.
    It averages the labels that have a positive and a negative, as the
    bootstrap's macro does; it is NaN with a reason when one of those has
    fewer than `MIN_CLASS` positives or negatives.

    Args:
        scores_a: Scores (N, L) of model a.
        scores_b: Scores (N, L) of model b, same images and order.
        labels: 0/1 labels (N, L).

    Returns:
        {"auroc_a", "auroc_b" (macro AUROCs), "diff" (b - a), "se", "z", "p",
        "n_labels", "reason"}.
    """
    labels = np.asarray(labels)
    positives = (labels > 0.5).sum(axis=0)
    averaged = np.flatnonzero((positives > 0) & (positives < len(labels)))
    reason = None if averaged.size else "no label has both positives and negatives"
    for column in averaged:
        if not reason and degenerate_reason(labels[:, column]):
            reason = f"label column {column}: {degenerate_reason(labels[:, column])}"
    if reason:
        return {**result(math.nan, math.nan, math.nan, reason), "n_labels": int(averaged.size)}
    aurocs, per_image = np.zeros(2), np.zeros(len(labels))
    for column in averaged:
        pair = np.stack([scores_a[:, column], scores_b[:, column]])
        label_aurocs, phi = influence(pair, labels[:, column])
        aurocs += label_aurocs / averaged.size
        per_image += (phi[1] - phi[0]) / averaged.size
    test = result(aurocs[0], aurocs[1], float(per_image @ per_image), None)
    return {**test, "n_labels": int(averaged.size)}


def degenerate_reason(labels):
    """Why DeLong's variance is undefined for these 0/1 labels (N,), or None."""
    positives = int((np.asarray(labels) > 0.5).sum())
    negatives = len(labels) - positives
    if positives < MIN_CLASS or negatives < MIN_CLASS:
        return f"DeLong needs {MIN_CLASS} positives and {MIN_CLASS} negatives, has {positives} and {negatives}"
    return None


def result(auroc_a, auroc_b, variance, reason):
    """The test's dict from two AUROCs and the variance of their difference.

    Args:
        auroc_a: AUROC of model a.
        auroc_b: AUROC of model b.
        variance: Estimated variance of auroc_b - auroc_a; NaN when undefined.
        reason: Why it is undefined, else None.

    Returns:
        {"auroc_a", "auroc_b", "diff", "se", "z", "p", "reason"}; p is NaN with a
        reason when the variance is zero but the difference is not.
    """
    diff = float(auroc_b - auroc_a)
    # max: round-off can make a zero variance -1e-18.
    se = math.nan if math.isnan(variance) else math.sqrt(max(float(variance), 0.0))
    if math.isnan(diff) or math.isnan(se):
        z = p = math.nan
    elif se == 0 and diff == 0:
        # Identical structural components: the models rank every pair alike.
        z, p = 0.0, 1.0
    elif se == 0:
        # A difference with no estimated variance (e.g. one model scores every image
        # alike) is no evidence of p = 0: the variance estimate has failed.
        z = p = math.nan
        reason = reason or f"zero variance for a difference of {diff:+.4f}: p undefined"
    else:
        z = diff / se
        p = math.erfc(abs(z) / math.sqrt(2))  # two-sided normal tail
    return {
        "auroc_a": float(auroc_a),
        "auroc_b": float(auroc_b),
        "diff": diff,
        "se": se,
        "z": z,
        "p": p,
        "reason": reason,
    }
