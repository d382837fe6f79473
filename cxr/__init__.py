"""cxr: multi-label chest X-ray classification on NIH ChestX-ray14 with Keras 3."""
