"""Per-label and macro AUROC: exactness, undefined labels, input types."""

import math
import warnings

import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf

from cxr.stats.auroc import macro_auroc, per_label_auroc
from cxr_tfds.labels import LABELS


def pairwise_auroc(labels, scores):
    """AUROC by definition: P(score of a positive > score of a negative), ties count half."""
    positives = scores[labels == 1]
    negatives = scores[labels == 0]
    wins = (positives[:, None] > negatives[None, :]).sum()
    ties = (positives[:, None] == negatives[None, :]).sum()
    return (wins + 0.5 * ties) / (positives.size * negatives.size)


def random_batch(n=60, seed=0):
    """Multi-hot labels with every label present, and scores correlated with them."""
    rng = np.random.default_rng(seed)
    y_true = (rng.random((n, len(LABELS))) < 0.3).astype(np.float32)
    y_true[0], y_true[1] = 1.0, 0.0  # both classes in every column
    # Rounded scores so some ties occur, which the AUROC must count as half.
    y_prob = np.round(rng.random(y_true.shape) * 0.7 + 0.3 * y_true, 1).astype(np.float32)
    return y_true, y_prob


def test_per_label_auroc_matches_the_definition():
    y_true, y_prob = random_batch()
    aurocs = per_label_auroc(y_true, y_prob)
    assert list(aurocs) == list(LABELS)
    for column, label in enumerate(LABELS):
        expected = pairwise_auroc(y_true[:, column], y_prob[:, column])
        assert aurocs[label] == pytest.approx(expected, abs=1e-12)
        assert type(aurocs[label]) is float
    assert macro_auroc(aurocs) == pytest.approx(np.mean(list(aurocs.values())))


def test_logits_give_the_same_auroc_as_probabilities():
    y_true, y_prob = random_batch()
    logits = np.log(y_prob + 1e-3) - np.log1p(-y_prob + 1e-3)
    assert per_label_auroc(y_true, logits) == pytest.approx(per_label_auroc(y_true, y_prob))


def test_label_without_positives_or_negatives_is_nan():
    y_true, y_prob = random_batch()
    y_true[:, LABELS.index("Hernia")] = 0.0  # no positive
    y_true[:, LABELS.index("Edema")] = 1.0  # no negative
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        aurocs = per_label_auroc(y_true, y_prob)
        macro = macro_auroc(aurocs)
    assert math.isnan(aurocs["Hernia"]) and math.isnan(aurocs["Edema"])
    defined = [v for k, v in aurocs.items() if k not in ("Hernia", "Edema")]
    assert not any(math.isnan(v) for v in defined)
    assert macro == pytest.approx(sum(defined) / len(defined))


def test_macro_auroc_is_nan_when_no_label_is_defined():
    y_true = np.zeros((5, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        aurocs = per_label_auroc(y_true, np.random.rand(5, 3), label_names=("a", "b", "c"))
        assert math.isnan(macro_auroc(aurocs))
    assert all(math.isnan(v) for v in aurocs.values())


def test_accepts_jax_and_tensorflow_arrays():
    """The trainer may hand over model outputs of either Keras backend."""
    y_true, y_prob = random_batch()
    expected = per_label_auroc(y_true, y_prob)
    assert per_label_auroc(jnp.asarray(y_true), jnp.asarray(y_prob)) == pytest.approx(expected)
    assert per_label_auroc(tf.constant(y_true), tf.constant(y_prob)) == pytest.approx(expected)


@pytest.mark.parametrize(
    "true_shape, prob_shape",
    [((10, 14), (10, 13)), ((10, 13), (10, 13)), ((10,), (10,)), ((10, 14), (9, 14))],
)
def test_shape_mismatch_raises(true_shape, prob_shape):
    with pytest.raises(ValueError, match="Expected"):
        per_label_auroc(np.zeros(true_shape), np.zeros(prob_shape))
