"""Using a trained run on new files: probabilities and Grad-CAM overlays for image and DICOM
files (`predict`, `cxr predict`).

May import: this package and cxr.errors to cxr.train.
(Layers in the order cxr/__init__.py declares; tests/test_layout.py checks imports.)
"""
