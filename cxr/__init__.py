"""cxr: multi-label chest X-ray classification on NIH ChestX-ray14 with Keras 3."""

__version__ = "0.2.0"
