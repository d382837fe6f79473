"""The multi-label classifier on any registered backbone.

`backbones` (the registry, one file per family), `classifier` (building it),
`preprocessing` (its first layer), `freezing` (which layers train; the sanity cascade's
stages), `saved` (loading a saved model, older ones included), `layer_names` (the names
other code reaches its layers by) and `losses` (its training loss).

May import: this package and cxr.errors to cxr.data.
(Layers in the order cxr/__init__.py declares; tests/test_layout.py checks imports.)
"""
