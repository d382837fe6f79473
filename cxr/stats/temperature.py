"""Temperature scaling (Guo et al., ICML 2017), one temperature per label.

A label's calibrated probability is sigmoid(z / T), z its logit and T > 0 fitted on the
validation split by minimising the negative log-likelihood (binary cross-entropy) of
sigmoid(z / T) against the validation truth. T > 1 softens, T < 1 sharpens; the order of
the probabilities, so every AUROC and every threshold decision, is unchanged.

cxr saves probabilities (float32 sigmoid outputs), so the logit is read back from them:
z = log(p) - log(1 - p) in float64, p clipped to [`LOW`, `HIGH`]. The clip moves only
p = 0 and p = 1 exactly (a float32 sigmoid rounds to them beyond logits of about -104 and
+17), each to just beyond the nearest float32 value, so the order is kept.
"""

import math

import numpy as np

# Half the smallest positive float32 (2**-149) and half the gap below 1 (2**-24): every
# other float32 probability lies strictly between them, so only exact 0 and 1 move.
LOW = 2.0**-150
HIGH = 1.0 - 2.0**-25
# The search interval of log T: T from 1/100 to 100, far beyond what a trained network
# needs (Guo et al.'s fitted temperatures are 1-3); a fit at a bound says so.
LOG_T_BOUNDS = (math.log(0.01), math.log(100.0))
XATOL = 1e-7  # on log T: T to a relative 1e-7, far below any effect on a reported digit


def logits(probs) -> np.ndarray:
    """The float64 logits of probabilities, clipped to [`LOW`, `HIGH`] first."""
    p = np.clip(np.asarray(probs, np.float64), LOW, HIGH)
    return np.log(p) - np.log1p(-p)


def scale(probs, temperatures) -> np.ndarray:
    """Probabilities (N, L) after temperature scaling: sigmoid(logit(p) / T) per column,
    float64. A NaN temperature leaves its column as it was."""
    probs = np.asarray(probs, np.float64)
    t = np.asarray(temperatures, np.float64).reshape(-1)
    t = np.where(np.isfinite(t), t, 1.0)
    x = logits(probs) / t
    scaled = np.exp(-np.logaddexp(0.0, -x))  # sigmoid, without overflow for large |x|
    return np.where(np.isfinite(np.asarray(temperatures, np.float64)), scaled, probs)


def nll(z, y, temperature) -> float:
    """Mean negative log-likelihood of sigmoid(z / T) against 0/1 truth `y`."""
    sign = 2.0 * np.asarray(y, np.float64) - 1.0
    return float(np.mean(np.logaddexp(0.0, -sign * np.asarray(z, np.float64) / temperature)))


def fit(z, y) -> dict:
    """The temperature of one label: argmin over T of `nll` on its validation logits.

    A bounded scalar search on log T (scipy's Brent-type `minimize_scalar`, `XATOL`).

    Returns:
        {"temperature", "nll_before", "nll_after", "at_bound", "reason", "positives" (the
        validation positives it was fitted on)}; a label without a validation positive or
        negative gets temperature NaN (no scaling) and a reason.
    """
    from scipy import optimize  # here: a module that only reads temperatures needs no scipy

    z, y = np.asarray(z, np.float64), np.asarray(y, np.float64) > 0.5
    if not y.any() or y.all():
        reason = "no positive in validation" if not y.any() else "no negative in validation"
        before = nll(z, y, 1.0) if len(z) else math.nan
        return _fitted(math.nan, before, before, False, reason) | {"positives": int(y.sum())}
    found = optimize.minimize_scalar(
        lambda log_t: nll(z, y, math.exp(log_t)),
        bounds=LOG_T_BOUNDS,
        method="bounded",
        options={"xatol": XATOL},
    )
    log_t = float(found.x)
    at_bound = min(abs(log_t - b) for b in LOG_T_BOUNDS) < 1e-3
    t = math.exp(log_t)
    return _fitted(t, nll(z, y, 1.0), nll(z, y, t), at_bound, None) | {"positives": int(y.sum())}


def _fitted(temperature, before, after, at_bound, reason) -> dict:
    return {
        "temperature": temperature,
        "nll_before": before,
        "nll_after": after,
        "at_bound": at_bound,
        "reason": reason,
    }


def fit_labels(val_probs, val_labels, label_names, known=None) -> dict:
    """{label: `fit`} on validation probabilities (M, L), each label on its known rows."""
    z = logits(val_probs)
    val_labels = np.asarray(val_labels)
    known = np.ones(val_labels.shape, bool) if known is None else np.asarray(known) > 0
    return {
        label: fit(z[known[:, i], i], val_labels[known[:, i], i])
        for i, label in enumerate(label_names)
    }
