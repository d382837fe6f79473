"""The saliency study's sanity checks: Adebayo et al.'s cascading randomisation on a few
boxed images, and their data randomisation test against a run trained on permuted labels
(`cxr.saliency.sanity` holds the tests and the pass rule; this module picks the images and
opens the permuted run)."""

import numpy as np

from cxr.data import datasets
from cxr.errors import UserError
from cxr.model import saved
from cxr.pipeline import wiring
from cxr.saliency import sanity
from cxr.tracking.rundir import RunDir


def run_sanity(
    *, model, builder, split, pairs, methods, options, images, seed=0, permuted_model=None
):
    """Cascading randomisation on the first `images` boxed images (each its first box's label).

    With `permuted_model`, the data randomisation test on the same images instead
    (`sanity.data_randomization`), judged by the same `sanity.verdicts`.

    Returns:
        The test's results and `sanity.verdicts`, or (None, None) when fewer than two
        images are asked for or boxed (the baseline needs pairs).
    """
    first = {}
    for pair in pairs:
        first.setdefault(pair[0], pair)
    chosen = sorted(first)[:images]
    if len(chosen) < 2:
        return None, None
    grays = dict(datasets.decode_selected(builder, split, chosen))
    x = datasets.gray_model_input(np.stack([grays[i] for i in chosen]))
    classes = np.array([first[i][1] for i in chosen])
    functions = sanity.method_functions(methods, **options)
    if permuted_model is None:
        results = sanity.cascading_randomization(model, x, classes, methods=functions, seed=seed)
    else:
        results = sanity.data_randomization(
            model, permuted_model, x, classes, methods=functions, seed=seed
        )
    return results, sanity.verdicts(results)


def load_permuted_model(permuted_run: RunDir, *, config, model):
    """The best model of a run trained on permuted labels, checked against the studied run.

    Args:
        permuted_run: The run trained with `train.permute_labels_seed` set.
        config, model: The studied run's config (a dict) and model.

    Raises:
        UserError: unless that run permuted its labels, on the studied run's dataset,
            and its model takes and gives what the studied model does.
    """
    other = permuted_run.config()
    flag = f"--permuted-run {permuted_run.path}"
    if wiring.unset_to_none(other.get("train", {}).get("permute_labels_seed")) is None:
        raise UserError(
            f"{flag} was trained on true labels (train.permute_labels_seed unset); pass a "
            "run of an experiment's :permuted variant, e.g. make experiment NAME=learnability:permuted"
        )
    if other["data"]["name"] != config["data"]["name"]:
        raise UserError(
            f"{flag} was trained on {other['data']['name']}, the run on "
            f"{config['data']['name']}: train both on one dataset"
        )
    permuted = saved.load_model(permuted_run.model_file)
    shapes = [(m.input.shape, m.output.shape) for m in (model, permuted)]
    if shapes[0] != shapes[1]:
        raise UserError(f"{flag}: its model maps {shapes[1]}, the run's {shapes[0]}")
    return permuted
