"""From `cxr14_subset` records to model-ready batches (`datasets`), train-time and test-time
augmentation (`augment`) and DICOM reading (`dicom`).

May import: this package, cxr.errors to cxr.tracking, and cxr_tfds.
(Layers in the order cxr/__init__.py declares; tests/test_layout.py checks imports.)
"""
