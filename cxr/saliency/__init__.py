"""Where the model looks: Grad-CAM heatmaps (`gradcam`), other saliency methods behind one
interface (`methods`, with the backends' gradients in `gradients`), their localization
against NIH's boxes (`localization`, numpy only), the pointing game (`pointing`, numpy
only), per-map scores (`map_scores`), Adebayo et al.'s randomisation checks (`sanity`)
and galleries of hits and mistakes (`gallery`).

May import: this package and cxr.errors to cxr.model.
(Layers in the order cxr/__init__.py declares; tests/test_layout.py checks imports.)
"""
