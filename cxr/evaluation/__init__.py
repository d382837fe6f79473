"""Turning a split's predictions into results: the classification report (`classification`,
numpy only, and `classification_report`, its files and text), the evaluators an
evaluation runs (`evaluators`), any model's probabilities scored alike (`score`, `cxr score`)
the model against individual radiologists (`readers`, `cxr readers`), saliency scores
with CIs (`saliency_scores`) and paired comparison of runs (`compare_runs`, `cxr compare`).

May import: this package and cxr.errors to cxr.saliency.
(Layers in the order cxr/__init__.py declares; tests/test_layout.py checks imports.)
"""
