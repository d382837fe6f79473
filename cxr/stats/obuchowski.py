"""Obuchowski's paired test of two AUROCs on patient-clustered images.

Obuchowski 1997 ("Nonparametric analysis of clustered ROC curve data",
Biometrics 53:567-578) extends "the structural components method of DeLong,
DeLong, and Clarke-Pearson (1988)" to clustered data: here a cluster is a
patient, a unit an image. With patient i holding m_i positive and n_i negative
images, M = sum m_i, N = sum n_i, and DeLong's per-image components V10, V01
(`cxr.stats.delong.structural_components`), each patient contributes the sums

    X_i = sum of V10 over its positives,  Y_i = sum of V01 over its negatives,

and for models r, s (I patients, I10 of them with a positive, I01 with a negative)

    S10[r, s] = I10 / ((I10 - 1) M) sum_i (X_i^r - m_i A^r)(X_i^s - m_i A^s)
    S01[r, s] = I01 / ((I01 - 1) N) sum_i (Y_i^r - n_i A^r)(Y_i^s - n_i A^s)
    S11[r, s] = I / (I - 1)         sum_i (X_i^r - m_i A^r)(Y_i^s - n_i A^s)
    cov[r, s] = S10 / M + S01 / N + (S11[r, s] + S11[s, r]) / (M N).

S11 is the covariance of a patient's positive and negative images, which
DeLong, treating images as independent, lacks. With one image per patient it
is zero and the test is DeLong's (tests/stats/test_obuchowski.py checks both).
docs/protocols.md ("Statistics") sets each step beside the paper.
"""

import math

import numpy as np

from cxr.stats.bootstrap import patient_index
from cxr.stats.delong import result, structural_components

MIN_PATIENTS = 2  # the sums over patients with a positive (negative) need two of them


def cluster_components(scores, labels, patients):
    """Per-patient sums of DeLong's structural components.

    Args:
        scores: Scores (R, N) of R models, or (N,) for one.
        labels: 0/1 labels (N,), with at least one positive and one negative.
        patients: Patient id of each image (N,), any sortable type.

    Returns:
        (aurocs (R,), x (R, I), y (R, I), m (I,), n (I,)): per patient i,
        x the sum of V10 over its positive images, y of V01 over its negative
        ones (0 where it has none), m and n its positive and negative image counts.
    """
    aurocs, v10, v01 = structural_components(scores, labels)
    groups, num_patients = patient_index(patients)
    positive = np.asarray(labels) > 0.5
    pos_groups, neg_groups = groups[positive], groups[~positive]
    m = np.bincount(pos_groups, minlength=num_patients)
    n = np.bincount(neg_groups, minlength=num_patients)
    x = np.stack([np.bincount(pos_groups, row, num_patients) for row in v10])
    y = np.stack([np.bincount(neg_groups, row, num_patients) for row in v01])
    return aurocs, x, y, m, n


def obuchowski_covariance(scores, labels, patients):
    """AUROCs of R models on the same images and Obuchowski's estimate of their covariance.

    Args:
        scores: Scores (R, N) of R models.
        labels: 0/1 labels (N,).
        patients: Patient id of each image (N,).

    Returns:
        (aurocs (R,), covariance (R, R)).

    Raises:
        ValueError: with fewer than `MIN_PATIENTS` patients with a positive or with a negative.
    """
    reason = degenerate_reason(labels, patients)
    if reason:
        raise ValueError(reason)
    aurocs, x, y, m, n = cluster_components(scores, labels, patients)
    num_patients, total_m, total_n = len(m), m.sum(), n.sum()
    with_pos, with_neg = int((m > 0).sum()), int((n > 0).sum())
    dx = x - m * aurocs[:, None]  # zero for a patient without positives
    dy = y - n * aurocs[:, None]
    s10 = with_pos / ((with_pos - 1) * total_m) * (dx @ dx.T)
    s01 = with_neg / ((with_neg - 1) * total_n) * (dy @ dy.T)
    s11 = num_patients / (num_patients - 1) * (dx @ dy.T)
    cov = s10 / total_m + s01 / total_n + (s11 + s11.T) / (total_m * total_n)
    return aurocs, cov


def obuchowski_test(scores_a, scores_b, labels, patients):
    """Obuchowski's two-sided test that two models' AUROCs on the same images are equal.

    Args:
        scores_a: Scores (N,) of model a (the reference).
        scores_b: Scores (N,) of model b, same images and order.
        labels: 0/1 labels (N,).
        patients: Patient id of each image (N,).

    Returns:
        {"auroc_a", "auroc_b", "diff" (b - a), "se", "z", "p", "reason"} as
        `cxr.stats.delong.delong_test` returns them: NaN numbers and a reason
        when the variance is undefined or zero for a nonzero difference.
    """
    reason = degenerate_reason(labels, patients)
    if reason:
        return result(math.nan, math.nan, math.nan, reason)
    aurocs, cov = obuchowski_covariance(np.stack([scores_a, scores_b]), labels, patients)
    return result(aurocs[0], aurocs[1], cov[0, 0] + cov[1, 1] - 2 * cov[0, 1], None)


def obuchowski_macro_test(scores_a, scores_b, labels, patients):
    """Clustered test of the difference in macro (mean per-label) AUROC of two models.

    Our extension, not the paper's (as `cxr.stats.delong.delong_macro_test` is
    DeLong's): each patient's deviation u_i = mean over labels of
    (dX_i^b - dX_i^a) / M + (dY_i^b - dY_i^a) / N, and the variance is
    I / (I - 1) sum u_i^2. For one label it is Obuchowski's variance up to the
    small-sample factors I10 / (I10 - 1) and I01 / (I01 - 1), which it replaces by I / (I - 1).

    Args:
        scores_a: Scores (N, L) of model a.
        scores_b: Scores (N, L) of model b, same images and order.
        labels: 0/1 labels (N, L).
        patients: Patient id of each image (N,).

    Returns:
        {"auroc_a", "auroc_b", "diff", "se", "z", "p", "n_labels", "reason"}.
    """
    labels = np.asarray(labels)
    positives = (labels > 0.5).sum(axis=0)
    averaged = np.flatnonzero((positives > 0) & (positives < len(labels)))
    reason = None if averaged.size else "no label has both positives and negatives"
    for column in averaged:
        why = degenerate_reason(labels[:, column], patients)
        if not reason and why:
            reason = f"label column {column}: {why}"
    if reason:
        return {**result(math.nan, math.nan, math.nan, reason), "n_labels": int(averaged.size)}
    aurocs, per_patient = np.zeros(2), 0.0
    for column in averaged:
        pair = np.stack([scores_a[:, column], scores_b[:, column]])
        label_aurocs, x, y, m, n = cluster_components(pair, labels[:, column], patients)
        dx, dy = x - m * label_aurocs[:, None], y - n * label_aurocs[:, None]
        deviation = (dx[1] - dx[0]) / m.sum() + (dy[1] - dy[0]) / n.sum()
        aurocs += label_aurocs / averaged.size
        per_patient = per_patient + deviation / averaged.size
    num_patients = len(per_patient)
    variance = num_patients / (num_patients - 1) * float(per_patient @ per_patient)
    return {**result(aurocs[0], aurocs[1], variance, None), "n_labels": int(averaged.size)}


def degenerate_reason(labels, patients):
    """Why Obuchowski's variance is undefined for these labels and patients (N,), or None."""
    positive = np.asarray(labels) > 0.5
    patients = np.asarray(patients)
    with_pos = np.unique(patients[positive]).size
    with_neg = np.unique(patients[~positive]).size
    if with_pos < MIN_PATIENTS or with_neg < MIN_PATIENTS:
        return (
            f"the clustered test needs {MIN_PATIENTS} patients with a positive and "
            f"{MIN_PATIENTS} with a negative, has {with_pos} and {with_neg}"
        )
    return None
