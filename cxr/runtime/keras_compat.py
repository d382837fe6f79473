"""Where cxr reaches into Keras's private code (`keras.src`), pinned to the Keras it was tested with.

Private code changes without notice between releases, so a patch written for one
release could silently do the wrong thing under another. `patch_fit_for_several_workers`
therefore refuses any Keras but `TESTED_KERAS` with one line; the pins in
constraints.txt install that release.

    keras_compat.patch_fit_for_several_workers()  # before MultiWorkerMirroredStrategy's fit
"""

import keras

from cxr.errors import UserError

# The Keras release (major.minor) whose private code the patch below was written and
# tested against; update it together with the patch, after running
# tests/end_to_end/test_multi_device.py.
TESTED_KERAS = "3.15"


def check_keras(version=None) -> None:
    """Raises a `UserError` unless Keras `version` (default: the installed one) is `TESTED_KERAS`.

    Args:
        version: a Keras version string such as "3.15.1"; None reads `keras.__version__`.
    """
    version = version or keras.__version__
    if ".".join(version.split(".")[:2]) != TESTED_KERAS:
        raise UserError(
            f"keras {version}: multi-worker training patches Keras's private code, tested "
            f"with Keras {TESTED_KERAS} only (cxr/runtime/keras_compat.py); install it with "
            f"`pip install -c constraints.txt 'keras=={TESTED_KERAS}.*'`"
        )


def patch_fit_for_several_workers() -> None:
    """Lets Keras's `fit` run under MultiWorkerMirroredStrategy (keras-team/keras#20585).

    Keras 3.15's `fit` reduces a data batch (only to read its shapes) and the scalar logs
    with calls that this strategy rejects. These two stand-ins do the same thing in a way
    it accepts. Idempotent.

    Raises:
        UserError: for a Keras release other than `TESTED_KERAS`, before patching anything.
    """
    check_keras()
    from keras.src.backend.tensorflow import trainer

    if getattr(trainer, "_cxr_multi_worker", False):
        return
    reduce = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction="auto"):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            return keras.tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return reduce(values, strategy, reduction)

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        local = self.distribute_strategy.experimental_local_results
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = keras.tree.map_structure(lambda v: local(v)[0], next(batches))
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    trainer.reduce_per_replica = reduce_per_replica
    trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    trainer._cxr_multi_worker = True


def xla_possible() -> bool:
    """False where Keras turns `jit_compile=True` off: TensorFlow with op determinism on.

    The same test as Keras's own (`keras.src.trainers.trainer.model_supports_jit`), with
    the same TensorFlow function, which TensorFlow exports nowhere public.
    """
    if keras.backend.backend() != "tensorflow":
        return True
    from tensorflow.python.framework.config import is_op_determinism_enabled

    return not is_op_determinism_enabled()
