"""What a run records: file names of run and evaluation directories (`rundir`), names of
logged metrics (`metric_keys`), the one writer of evaluation results (`writer`) and
Weights & Biases (`wandb_logging`).

May import: this package and cxr.errors to cxr.runtime.
(Layers in the order cxr/__init__.py declares; tests/test_layout.py checks imports.)
"""
