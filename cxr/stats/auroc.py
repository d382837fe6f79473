"""Per-label AUROC, the standard ChestX-ray14 metric (Wang et al. 2017, CheXNet)."""

import numpy as np

from cxr_tfds.labels import LABELS


def per_label_auroc(y_true, y_prob, label_names=LABELS):
    """Computes the exact AUROC of each label with scikit-learn.

    AUROC only depends on the ranking of scores, so logits give the same
    result as sigmoid probabilities.

    Args:
        y_true: Multi-hot labels (N, L) of 0/1, -1 where unknown (left out of
            that label's AUROC); any array type numpy can convert (numpy, JAX,
            eager TensorFlow).
        y_prob: Scores (N, L): probabilities or logits.
        label_names: The L label names, in column order; the 14
            ChestX-ray14 labels by default.

    Returns:
        A dict label name -> AUROC as a Python float. A label whose column has
        no positive or no negative example gets NaN: AUROC is undefined there,
        which happens for rare labels (Hernia) on small splits.

    Raises:
        ValueError: If the shapes do not match each other or `label_names`.
    """
    y_true = np.asarray(y_true)
    y_prob = np.asarray(y_prob, dtype=np.float64)
    if y_true.ndim != 2 or y_true.shape != y_prob.shape or y_true.shape[1] != len(label_names):
        raise ValueError(
            f"Expected y_true and y_prob of shape (N, {len(label_names)}); "
            f"got {y_true.shape} and {y_prob.shape}."
        )
    import sklearn.metrics  # here: seconds that `cxr compare --help` need not pay

    aurocs = {}
    for column, name in enumerate(label_names):
        known = y_true[:, column] >= 0  # an unknown label (-1) is left out
        labels = y_true[known, column]
        if np.unique(labels).size < 2:
            aurocs[name] = float("nan")
        else:
            aurocs[name] = float(sklearn.metrics.roc_auc_score(labels, y_prob[known, column]))
    return aurocs


def macro_auroc(aurocs):
    """Averages per-label AUROCs, skipping the undefined (NaN) ones.

    Args:
        aurocs: A dict label name -> AUROC, as returned by `per_label_auroc`.

    Returns:
        The mean over labels with a defined AUROC as a Python float; NaN if no
        label has one.
    """
    values = np.array(list(aurocs.values()), dtype=np.float64)
    defined = values[~np.isnan(values)]
    # Not np.nanmean: it warns on an all-NaN input, which is a legitimate case.
    return float(defined.mean()) if defined.size else float("nan")


def undefined_reason(labels, where: str) -> str | None:
    """Why AUROC is undefined for these 0/1 labels (N,), or None when it is defined.

    The one wording of the rule every report uses: AUROC (and any operating point) needs at
    least one positive and one negative.

    Args:
        labels: 0/1 labels (N,), any array numpy can convert.
        where: what the labels are of, appended to the reason ("in test", "on the split").

    Returns:
        "no positive <where>" (also for no label at all), "no negative <where>", or None.
    """
    n_pos = int(np.sum(labels))
    if n_pos == 0:
        return f"no positive {where}"
    if n_pos == np.size(labels):
        return f"no negative {where}"
    return None
