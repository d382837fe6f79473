"""The DenseNet121 multi-label classifier: building, loading and freezing it (`densenet`)
and its training loss (`losses`).

May import: this package and cxr.errors to cxr.data.
(Layers in the order cxr/__init__.py declares; tests/test_layout.py checks imports.)
"""
