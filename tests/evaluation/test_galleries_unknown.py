"""The Grad-CAM gallery shows a label's cases only among images where the label is known."""

import numpy as np

from cxr.evaluation.evaluators.galleries import Galleries
from tests.helpers import made_up_predictions


def test_an_unknown_label_is_neither_a_false_positive_nor_a_true_one():
    gray, labels, boxes, box_labels = made_up_predictions.fake_data(n=12)
    probs = np.random.default_rng(0).random(labels.shape).astype(np.float32)
    preds = made_up_predictions.predictions(gray, labels, boxes, box_labels, probs)
    known = np.ones(labels.shape, np.uint8)
    # Label 0's highest-scored negative and highest-scored positive become unknown.
    negatives, positives = np.flatnonzero(labels[:, 0] == 0), np.flatnonzero(labels[:, 0] == 1)
    top_negative = negatives[np.argmax(probs[negatives, 0])]
    top_positive = positives[np.argmax(probs[positives, 0])]
    known[[top_negative, top_positive], 0] = 0
    preds.known = known
    evaluator = Galleries(per_kind=2)
    evaluator.pairs(preds)
    picked = {(kind, index) for label, kind, _, index in evaluator.picks if label == 0}
    shown = {index for _, index in picked}
    assert top_negative not in shown and top_positive not in shown
    # The reference: the same choice by hand among the known images only.
    rows = np.flatnonzero(known[:, 0] == 1)
    neg = [i for i in rows if labels[i, 0] == 0]
    expected_fp = sorted(neg, key=lambda i: (-probs[i, 0], i))[:2]
    assert {i for kind, i in picked if kind == "false_positive"} == set(expected_fp)
