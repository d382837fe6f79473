"""From any registered dataset's records to model-ready batches (`datasets`; which dataset,
built and checked: `open_dataset`; labels, their known mask and attributes by the
dataset's registry entry: `label_space`; one evaluation pass: `evaluation_batches`),
train-time and test-time augmentation (`augment`) and DICOM reading (`dicom`).

May import: this package, cxr.errors to cxr.tracking, and cxr_tfds.
(Layers in the order cxr/__init__.py declares; tests/test_layout.py checks imports.)
"""
