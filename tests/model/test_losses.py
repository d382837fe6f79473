"""The training loss over known labels only, against a numpy brute force."""

import keras
import numpy as np
import pytest

from cxr.model.losses import WeightedBinaryCrossentropy, positive_weights
from cxr.stats.auroc import per_label_auroc

UNKNOWN = -1.0


def brute_force(labels, logits, pos_weight=None):
    """The mean, over every known (row, label) entry, of -w y log s(z) - (1 - y) log(1 - s(z))."""
    terms = []
    for row_y, row_z in zip(labels, logits, strict=True):
        for k, (y, z) in enumerate(zip(row_y, row_z, strict=True)):
            if y == UNKNOWN:
                continue
            p = 1 / (1 + np.exp(-np.float64(z)))
            w = 1.0 if pos_weight is None else pos_weight[k]
            terms.append(-w * y * np.log(p) - (1 - y) * np.log(1 - p))
    return np.mean(terms) if terms else 0.0


def _batch(seed=0, rows=9, width=5):
    rng = np.random.default_rng(seed)
    labels = (rng.random((rows, width)) < 0.4).astype(np.float32)
    labels[rng.random((rows, width)) < 0.3] = UNKNOWN
    labels[0] = UNKNOWN  # a row with no known label
    logits = rng.normal(0, 2, (rows, width)).astype(np.float32)
    return labels, logits


@pytest.mark.parametrize("pos_weight", [None, [2.0, 1.0, 0.5, 3.0, 1.0]])
def test_unknown_entries_count_nothing_and_the_mean_is_over_known_ones(pos_weight):
    labels, logits = _batch()
    loss = float(WeightedBinaryCrossentropy(pos_weight)(labels, logits))
    # float32 softplus against float64 logs: ~1e-7 relative.
    np.testing.assert_allclose(loss, brute_force(labels, logits, pos_weight), rtol=1e-5)


def test_the_unknown_entries_logits_get_no_gradient():
    import tensorflow as tf

    labels, logits = _batch(seed=3)
    z = tf.Variable(logits)
    with tf.GradientTape() as tape:
        loss = WeightedBinaryCrossentropy()(tf.constant(labels), z)
    grad = tape.gradient(loss, z).numpy()
    assert np.all(grad[labels == UNKNOWN] == 0) and np.all(grad[labels != UNKNOWN] != 0)


def test_all_known_equals_keras_binary_crossentropy():
    rng = np.random.default_rng(1)
    labels = (rng.random((32, 14)) < 0.3).astype(np.float32)
    logits = rng.normal(0, 3, (32, 14)).astype(np.float32)
    ours = float(WeightedBinaryCrossentropy()(labels, logits))
    theirs = float(keras.losses.BinaryCrossentropy(from_logits=True)(labels, logits))
    # The same op per entry, summed then divided by 14 where Keras takes the mean: equal
    # on the CPUs tried (TF and JAX); a tolerance, since another CPU may sum otherwise.
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    np.testing.assert_allclose(ours, brute_force(labels, logits), rtol=1e-5)


def test_a_batch_with_nothing_known_has_zero_loss():
    labels = np.full((3, 4), UNKNOWN, np.float32)
    assert float(WeightedBinaryCrossentropy()(labels, np.ones((3, 4), np.float32))) == 0.0


def test_positive_weights_count_known_entries_only():
    labels = np.array(
        [[1, 0, UNKNOWN], [0, 0, 1], [UNKNOWN, 0, 1], [0, 1, UNKNOWN], [0, UNKNOWN, UNKNOWN]],
        np.float32,
    )
    # By hand: column 0 has 1 positive, 3 negatives; column 1 1 and 3; column 2 two
    # positives and no negative -> 1.
    np.testing.assert_array_equal(positive_weights(labels), [3.0, 3.0, 1.0])


def test_the_loss_saves_and_loads_without_weights():
    loss = WeightedBinaryCrossentropy()
    again = WeightedBinaryCrossentropy.from_config(loss.get_config())
    labels, logits = _batch(seed=2)
    assert float(again(labels, logits)) == float(loss(labels, logits))


def test_auroc_leaves_unknown_labels_out():
    import sklearn.metrics

    labels, logits = _batch(seed=4, rows=40, width=3)
    labels[0] = 1.0  # row 0 known again
    aurocs = per_label_auroc(labels, logits, ("a", "b", "c"))
    for k, name in enumerate("abc"):
        known = labels[:, k] != UNKNOWN
        reference = sklearn.metrics.roc_auc_score(labels[known, k], logits[known, k])
        assert aurocs[name] == pytest.approx(reference)


def test_a_model_compiled_with_the_loss_loads_in_a_process_that_never_named_it(tmp_path):
    """`cxr.model.saved.load_model` registers the loss itself: `cxr export` and `cxr predict`
    import nothing else of training, and a model file names the loss in its compile config
    (the learnability run's model failed to load there before)."""
    import subprocess
    import sys

    from cxr.model import classifier

    model = classifier.build_model(backbone="tiny", num_labels=3, image_size=32)
    model.compile(loss=WeightedBinaryCrossentropy())
    model.save(tmp_path / "model.keras")
    code = (
        "import sys; from cxr.model import saved\n"
        "saved.load_model(sys.argv[1])\n"
        "print('cxr.train' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "model.keras")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "False"
