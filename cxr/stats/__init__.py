"""Statistics on predictions, pure numpy: per-label AUROC (`auroc`), the patient-level
bootstrap (`bootstrap`), paired AUROC tests (`delong`, `obuchowski`) with their measured
type-I error (`type1`), and published NIH results (`published`).

May import: this package, cxr.errors and cxr_tfds.labels; numpy, never a framework, so
the statistics run and are tested without Keras.
(Layers in the order cxr/__init__.py declares; tests/test_layout.py checks imports.)
"""
