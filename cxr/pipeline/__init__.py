"""The stages put together: what a run's config sets up (`wiring`), a named experiment end
to end (`experiment`; `experiment_config` reads `cxr experiment`'s command line), a saved
run re-evaluated (`evaluate`, `cxr evaluate`), saliency methods compared on a run
(`saliency_study`, `saliency_report`, `cxr saliency`) and its W&B workspace view
(`dashboard`, `cxr dashboard`).

May import: this package, cxr.errors to cxr.inference, and cxr.configs.
(Layers in the order cxr/__init__.py declares; tests/test_layout.py checks imports.)
"""
