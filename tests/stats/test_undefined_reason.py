"""`undefined_reason`: the one rule of when AUROC is undefined, and its wording."""

import math

import numpy as np
import pytest

from cxr.stats.auroc import per_label_auroc, undefined_reason


@pytest.mark.parametrize(
    "labels, reason",
    [
        ([0, 0, 0], "no positive in test"),
        ([], "no positive in test"),
        ([1.0, 1.0], "no negative in test"),
        ([True, True, True], "no negative in test"),
        ([0, 1, 0], None),
    ],
)
def test_reason_names_the_missing_class(labels, reason):
    assert undefined_reason(np.array(labels), "in test") == reason


def test_reason_is_given_exactly_where_auroc_is_nan():
    """Independent reference: scikit-learn's AUROC (via per_label_auroc) is NaN there."""
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 6))
        y = (rng.random((n, 1)) < rng.random()).astype(np.float32)
        auroc = per_label_auroc(y, rng.random((n, 1)), label_names=("x",))["x"]
        assert (undefined_reason(y[:, 0], "here") is None) == (not math.isnan(auroc))
