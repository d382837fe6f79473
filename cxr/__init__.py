"""cxr: multi-label chest X-ray classification on NIH ChestX-ray14 with Keras 3.

Layers, lowest first; a module imports only from its own layer or lower ones
(tests/test_layout.py reads this line and checks every import against it):

    cxr.errors < cxr.stats < cxr.runtime < cxr.tracking < cxr.data < cxr.model < cxr.saliency < cxr.evaluation < cxr.train < cxr.inference < cxr.pipeline < cxr.bench < cxr.cli

`cxr.configs` (the experiments/ folder) and `cxr_tfds` sit below every layer;
`cxr_tfds` imports nothing of cxr.

Module map:
    cxr.errors      UserError, the one-line failure a user fixes, and its exit code
    cxr.stats       pure numpy statistics: AUROC, bootstrap, paired tests, published results
    cxr.runtime     the machine, distribution, precision and XLA, the backends' quiet start
    cxr.tracking    run directories, metric names, the evaluation writer, W&B
    cxr.data        cxr14_subset batches, augmentation, DICOM reading
    cxr.model       the backbone registry, the classifier on any backbone, its loss
    cxr.saliency    Grad-CAM, localization against NIH boxes, pointing game, galleries
    cxr.evaluation  classification report, evaluators, scoring CSVs, run comparison
    cxr.train       training phases, the loop, its callbacks, the feature cache
    cxr.inference   probabilities, operating points, predictions for image and DICOM files
    cxr.pipeline    a run's wiring, an experiment end to end, re-evaluation, W&B dashboard
    cxr.bench       speed and scaling benchmarks
    cxr.cli         the `cxr` command (also `python -m cxr`)
    cxr.configs     the named experiments (experiments/ in the repository)

The package itself is a small façade: `__version__`, `LABELS` and `UserError` load with
it; the heavier names below load their module (and Keras) on first use, so `import cxr`
starts no framework.
"""

import importlib as _importlib

from cxr.errors import UserError
from cxr_tfds.labels import LABELS

# The one literal of the version: pyproject.toml reads it ([tool.setuptools.dynamic]).
__version__ = "0.2.0"

# Name -> module that owns it, imported on first access (module `__getattr__`, PEP 562).
_LAZY = {
    "build_model": "cxr.model.classifier",
    "load_model": "cxr.model.saved",
    "load_run_model": "cxr.inference.prediction_source",
    "predict": "cxr.inference.predict",
    "per_label_auroc": "cxr.stats.auroc",
    "macro_auroc": "cxr.stats.auroc",
}

__all__ = ["LABELS", "UserError", "__version__", *_LAZY]


def __getattr__(name):
    """Loads a heavier API name from the module that owns it, on first use."""
    if name in _LAZY:
        value = getattr(_importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip __getattr__
        return value
    raise AttributeError(f"module 'cxr' has no attribute {name!r}")


def __dir__():
    """`dir(cxr)` lists the lazy names too."""
    return sorted({*globals(), *_LAZY})
