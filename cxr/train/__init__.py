"""The training stage: phases that carry their own settings (`phases`), run by `fit_phase`
and resumable at any epoch (`loop`), the callbacks of every phase (`callbacks`) and the
cached backbone features (`feature_cache`).

May import: this package and cxr.errors to cxr.evaluation.
(Layers in the order cxr/__init__.py declares; tests/test_layout.py checks imports.)
"""
