"""The saliency registry: every method cxr makes maps with, by name, and what it is.

    METHODS["ig"].paper, METHODS["ig"].defaults, METHODS["ig"].batches
    default_names()                      # what `cxr saliency` runs without --methods
    register(Method(name="mine", paper=..., defaults={...}, signed=True,
                    compute="my_package.my_module:my_maps", batches=True))

The one place a method is named and described: `cxr.saliency.methods.saliency_maps`
makes its maps, `cxr saliency` takes its default --methods from here (and so does the
command line read before the frameworks start, `cxr.cli.arguments`), the dashboard's
Saliency section shows those, and row 8 of `make bench` measures every entry. This module
imports no framework: an entry names its compute function as "module:function", imported
on first use (or holds the function itself, for a method registered at run time).
"""

import dataclasses
import importlib
from collections.abc import Callable

from cxr.model.layer_names import GRADCAM_LAYER


@dataclasses.dataclass(frozen=True)
class Method:
    """One saliency method.

    Attributes:
        name: Its registry name, as `--methods` and `saliency_maps(method=)` take it.
        paper: Where it is from, in a few words.
        defaults: Its options with their default values; `saliency_maps` takes no other.
        signed: Whether its maps can be negative (evidence against the label).
        compute: `(model, images, classes, batch_size, **options) -> (N, S, S)` maps, or
            its "module:function" name (imported when first used, keeping this pure).
        batches: Whether one pass of model calls makes the maps of a whole batch of
            images (CAM, Grad-CAM); False where each image's map costs model calls of its
            own (a path, noisy copies or occluded copies of the image). Row 8 of the bench
            times a batch of images or one image accordingly.
        warm_up: `(batch_size, side) -> options` of a cheap map that makes the same model
            calls as the defaults' map (so a warm-up compiles what the timed maps run);
            None where the defaults' map already costs one batch of calls.
        by_default: Whether `cxr saliency` runs it when --methods is not given.
    """

    name: str
    paper: str
    defaults: dict
    signed: bool
    compute: str | Callable
    batches: bool
    warm_up: Callable | None = None
    by_default: bool = True

    def function(self) -> Callable:
        """The compute function, imported from its "module:function" name if need be."""
        if callable(self.compute):
            return self.compute
        module, _, attribute = self.compute.partition(":")
        return getattr(importlib.import_module(module), attribute)

    def warm_up_options(self, *, batch_size: int, side: int) -> dict:
        """Options of a cheap map with the defaults' model calls, at this batch and image side."""
        return {} if self.warm_up is None else self.warm_up(batch_size, side)


METHODS: dict[str, Method] = {}  # name -> entry, in registration order


def register(entry: Method) -> Method:
    """Adds `entry` to `METHODS`; a name registered twice is an error (ValueError)."""
    if entry.name in METHODS:
        raise ValueError(f"saliency method {entry.name!r} is registered twice")
    METHODS[entry.name] = entry
    return entry


def unregister(name: str) -> None:
    """Removes `name` (a test that registers a method of its own cleans up with this)."""
    METHODS.pop(name, None)


def default_names() -> tuple[str, ...]:
    """The methods `cxr saliency` runs without --methods, in registration order."""
    return tuple(name for name, entry in METHODS.items() if entry.by_default)


_HERE = "cxr.saliency.methods"

for _entry in (
    Method(
        name="cam",
        paper="Zhou et al., CVPR 2016",
        defaults={"layer_name": GRADCAM_LAYER},  # the named feature map
        signed=True,
        compute=f"{_HERE}:cam",
        batches=True,
    ),
    Method(
        name="gradcam",
        paper="Selvaraju et al., ICCV 2017",
        defaults={"layer_name": GRADCAM_LAYER},  # the named feature map
        signed=False,
        compute=f"{_HERE}:grad_cam",
        batches=True,
    ),
    Method(
        name="gradcam++",
        paper="Chattopadhay et al., WACV 2018",
        defaults={"layer_name": GRADCAM_LAYER},  # the named feature map
        signed=False,
        compute=f"{_HERE}:gradcam_plus_plus",
        batches=True,
    ),
    # Per image: `steps` gradients along a path; the warm-up's path is one batch long.
    Method(
        name="ig",
        paper="Sundararajan et al., ICML 2017",
        defaults={"steps": 50},
        signed=True,
        compute=f"{_HERE}:integrated_gradients",
        batches=False,
        warm_up=lambda batch_size, side: {"steps": batch_size},
    ),
    # Per image: `samples` noisy copies; the warm-up's are one batch.
    Method(
        name="smoothgrad",
        paper="Smilkov et al., arXiv 1706.03825 (2017)",
        defaults={"noise": 0.15, "samples": 50, "seed": 0},
        signed=True,
        compute=f"{_HERE}:smoothgrad",
        batches=False,
        warm_up=lambda batch_size, side: {"samples": batch_size},
    ),
    # Per image: one forward pass per square; the warm-up's single square is one call,
    # as each chunk of squares is.
    Method(
        name="occlusion",
        paper="Zeiler & Fergus, ECCV 2014",
        defaults={"patch": 32, "stride": 16, "fill": 0.0},
        signed=True,
        compute=f"{_HERE}:occlusion",
        batches=False,
        warm_up=lambda batch_size, side: {"patch": side, "stride": side},
    ),
):
    register(_entry)
