"""Patient-level bootstrap: resampling, weighted AUROCs and percentile intervals.

Images of one patient are correlated (same anatomy, often the same finding on
follow-ups), so every interval in cxr resamples patients, not images: a
resample draws as many patients as the split has, with replacement, and takes
all images of each drawn patient. `cxr.evaluation.classification` uses it for one model's
CIs, `cxr.evaluation.compare_runs` for paired differences between models on the same images.
"""

import math

import numpy as np

CI_LEVEL = 0.95  # the confidence level of every interval cxr reports
CHUNK = 100  # resamples per vectorised step, at most
# ... and fewer for large splits: a step's arrays (resamples x images ints) stay near this
# many elements, so memory does not grow with the split (25,596 test images: 39 a step).
CHUNK_ELEMENTS = 1_000_000


def resample_patients(num_patients, num_resamples, rng):
    """Draws patients with replacement: how often each patient is drawn, per resample.

    Args:
        num_patients: P, the number of patients; each resample draws P.
        num_resamples: B, the number of resamples.
        rng: A `numpy.random.Generator`.

    Returns:
        Int counts (B, P); a resample holds every image of patient j counts[b, j] times.
    """
    return rng.multinomial(num_patients, np.full(num_patients, 1.0 / num_patients), num_resamples)


def patient_index(patients):
    """(index of each image's patient in [0, P), P) for any sortable patient ids."""
    _, index = np.unique(np.asarray(patients), return_inverse=True)
    index = index.ravel()
    return index, int(index.max()) + 1 if index.size else 0


def weighted_auroc(scores, labels, counts, groups=None):
    """AUROC for many weightings of one label's images at once (Mann-Whitney U).

    Row b weights image i by `counts[b, groups[i]]`; with integer weights this
    is the AUROC of the data set holding each image that many times:
    P(a positive scores higher than a negative), ties counting half.

    Args:
        scores: Scores (N,).
        labels: 0/1 labels (N,).
        counts: Non-negative integer weights (B, G), e.g. how often a
            bootstrap resample draws each patient.
        groups: Group (patient) index in [0, G) of each image (N,); None
            means G = N and image i has weight counts[b, i].

    Returns:
        AUROCs (B,) as float64; NaN where the weighted data has no positive or
        no negative.
    """
    scores, positive = np.asarray(scores), np.asarray(labels) > 0.5
    groups = np.arange(len(scores)) if groups is None else np.asarray(groups)
    neg_order = np.argsort(scores[~positive], kind="stable")
    neg_scores = scores[~positive][neg_order]
    # Weighted count of negatives among the k lowest-scoring ones, k = 0..N_neg.
    # int32 is exact and ~3x faster than float64 here: a row sums to at most
    # sum_g counts[b, g] * (images of group g), far below 2**31 for any data set.
    cum = np.zeros((len(counts), neg_scores.size + 1), np.int32)
    np.cumsum(counts[:, groups[~positive][neg_order]], axis=1, out=cum[:, 1:])
    # Per positive: negatives strictly below it, and those tied with it (count half).
    below = np.searchsorted(neg_scores, scores[positive], side="left")
    not_above = np.searchsorted(neg_scores, scores[positive], side="right")
    pos_weights = counts[:, groups[positive]]
    twice_u = np.einsum(
        "bi,bi->b", pos_weights, cum[:, below] + cum[:, not_above], dtype=np.float64
    )
    u = twice_u / 2
    n_pos, n_neg = pos_weights.sum(axis=1, dtype=np.float64), cum[:, -1].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = u / (n_pos * n_neg)
    auc[(n_pos == 0) | (n_neg == 0)] = math.nan
    return auc


def bootstrap_aurocs(probs, labels, patients, *, num_bootstrap=1000, seed=0, known=None):
    """Per-label AUROCs of patient-level bootstrap resamples.

    Every label sees the same resampled patients; a label's AUROC uses only the images
    where it is known (`known`), so an unknown label counts as neither class.

    Args:
        probs: Scores (N, L).
        labels: 0/1 labels (N, L).
        patients: Patient id of each image (N,).
        num_bootstrap: Number of resamples; 1000.
        seed: Seed of the random generator; 0.
        known: (N, L) true where the label is known; None: all known.

    Returns:
        AUROCs (num_bootstrap, L); NaN where a resample lacks a class (or the
        label lacks one on the whole split: then all its resamples do).
    """
    probs, labels = np.asarray(probs, np.float64), np.asarray(labels)
    groups, num_patients = patient_index(patients)
    out = np.full((num_bootstrap, probs.shape[1]), math.nan)
    chunks = resample_chunks(num_patients, num_bootstrap, seed, num_images=len(probs))
    for start, counts in chunks:
        for column in range(probs.shape[1]):
            rows = slice(None) if known is None else np.asarray(known[:, column], bool)
            y = labels[rows, column]
            if 0 < y.sum() < len(y):
                out[start : start + len(counts), column] = weighted_auroc(
                    probs[rows, column], y, counts, groups[rows]
                )
    return out


def resample_chunks(num_patients, num_bootstrap, seed, num_images=0):
    """Yields (first resample index, int32 counts (<= CHUNK, P)) covering all resamples.

    The draws depend only on (num_patients, num_bootstrap, seed), not on how they are
    chunked (the generator draws resample after resample): two analyses of the same
    patients with the same seed see the same resamples.

    Args:
        num_patients: P.
        num_bootstrap: B, the number of resamples.
        seed: Seed of the random generator.
        num_images: Images the caller expands each resample to; chunks shrink so that
            a chunk's resamples x images stays near `CHUNK_ELEMENTS`.
    """
    rng = np.random.default_rng(seed)
    chunk = int(np.clip(CHUNK_ELEMENTS // max(num_images, num_patients, 1), 1, CHUNK))
    for start in range(0, num_bootstrap, chunk):
        n = min(chunk, num_bootstrap - start)
        yield start, resample_patients(num_patients, n, rng).astype(np.int32)


def percentile_ci(values):
    """Percentile CI at `CI_LEVEL` of the finite values, and how many there were.

    Returns:
        {"ci_low", "ci_high", "n_valid_resamples"}; NaN bounds when none is finite.
    """
    values = np.asarray(values, dtype=np.float64)
    valid = values[np.isfinite(values)]
    if not valid.size:
        return {"ci_low": math.nan, "ci_high": math.nan, "n_valid_resamples": 0}
    tail = 100 * (1 - CI_LEVEL) / 2
    low, high = np.percentile(valid, [tail, 100 - tail])
    return {"ci_low": float(low), "ci_high": float(high), "n_valid_resamples": int(valid.size)}


def paired_bootstrap_aurocs(probs_by_model, labels, patients, *, num_bootstrap=1000, seed=0):
    """Per-label AUROCs of several models on the same patient resamples.

    The resamples depend only on the patients and the seed (`resample_chunks`),
    so model k's row b and model 0's row b measure the same images: their
    difference is a paired bootstrap resample of the AUROC difference.

    Args:
        probs_by_model: Scores (N, L) of each of K models, on the same images in the same order.
        labels: 0/1 labels (N, L), shared.
        patients: Patient id of each image (N,).
        num_bootstrap: Number of resamples; 1000.
        seed: Seed of the random generator; 0.

    Returns:
        AUROCs (K, num_bootstrap, L); NaN where a resample lacks a class.
    """
    return np.stack(
        [
            bootstrap_aurocs(probs, labels, patients, num_bootstrap=num_bootstrap, seed=seed)
            for probs in probs_by_model
        ]
    )


def bootstrap_p_value(differences):
    """Two-sided bootstrap p-value that a paired difference is zero, from its finite resamples.

    p = 2 (1 + #{d <= 0 or d >= 0, whichever is fewer}) / (B + 1), at most 1:
    about the smallest level whose percentile interval excludes 0; the +1s keep
    it at least 2 / (B + 1), as no finite number of resamples shows p = 0.
    Identical models (every d = 0) get 1; every resample giving the same
    nonzero d is no variance to test against, so p is undefined (NaN), not 2 / (B + 1).

    Args:
        differences: Resampled differences (B,); NaN (invalid resamples) are left out.

    Returns:
        The p-value as a float; NaN when no resample is finite or all equal a nonzero d.
    """
    values = np.asarray(differences, dtype=np.float64)
    valid = values[np.isfinite(values)]
    if not valid.size or (valid.min() == valid.max() != 0):
        return math.nan
    fewer = min(int((valid <= 0).sum()), int((valid >= 0).sum()))
    return min(1.0, 2 * (1 + fewer) / (valid.size + 1))
