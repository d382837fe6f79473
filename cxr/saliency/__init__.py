"""Where the model looks: Grad-CAM heatmaps (`gradcam`), their localization against NIH's
boxes (`localization`, numpy only), the pointing game (`pointing`, numpy only) and
galleries of hits and mistakes (`gallery`).

May import: this package and cxr.errors to cxr.model.
(Layers in the order cxr/__init__.py declares; tests/test_layout.py checks imports.)
"""
