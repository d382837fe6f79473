"""Using a trained model: inputs to probabilities, the one place the sigmoid is applied
(`scoring`), per-label operating points (`operating_points`) and probabilities with
Grad-CAM overlays for image and DICOM files (`predict`, `cxr predict`).

May import: this package and cxr.errors to cxr.train.
(Layers in the order cxr/__init__.py declares; tests/test_layout.py checks imports.)
"""
