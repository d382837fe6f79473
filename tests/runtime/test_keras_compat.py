"""cxr.runtime.keras_compat: Keras's private code is patched only on the Keras release
it was tested with; any other is refused in one line, before anything is patched."""

import json

import keras
import pytest

from cxr.errors import UserError
from cxr.runtime import distribution, keras_compat


@pytest.mark.parametrize(
    "version", [f"{keras_compat.TESTED_KERAS}.0", f"{keras_compat.TESTED_KERAS}.9"]
)
def test_the_tested_release_passes(version):
    keras_compat.check_keras(version)


MAJOR, MINOR = map(int, keras_compat.TESTED_KERAS.split("."))
# Releases around the tested one, derived from it: the minors either side, the next major,
# and "3.1.5" for 3.15 (the same digits, to catch a comparison of strings by prefix).
OTHERS = [f"{MAJOR}.{MINOR - 1}.0", f"{MAJOR}.{MINOR + 1}.0", f"{MAJOR + 1}.0.0"]
OTHERS += [f"{MAJOR}.{str(MINOR)[:-1]}.{str(MINOR)[-1]}"] if MINOR >= 10 else []


@pytest.mark.parametrize("version", OTHERS)
def test_any_other_release_is_refused_in_one_line(version):
    with pytest.raises(UserError) as error:
        keras_compat.check_keras(version)
    message = str(error.value)
    assert message.startswith(f"keras {version}: ") and "\n" not in message
    assert f"Keras {keras_compat.TESTED_KERAS} only" in message


def test_the_installed_keras_is_the_tested_one():
    """constraints.txt pins the Keras the patch was tested with; a bump must revisit it."""
    keras_compat.check_keras()


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TF_CONFIG is TensorFlow's")
def test_multi_worker_setup_refuses_an_untested_keras_before_patching(monkeypatch):
    from keras.src.backend.tensorflow import trainer

    before = (trainer.reduce_per_replica, trainer.TensorFlowTrainer._maybe_symbolic_build)
    monkeypatch.setattr(keras, "__version__", "3.99.0")
    workers = {"cluster": {"worker": ["localhost:1", "localhost:2"]}}
    env = {"TF_CONFIG": json.dumps({**workers, "task": {"type": "worker", "index": 0}})}
    with pytest.raises(UserError, match="keras 3.99.0: multi-worker training"):
        distribution.setup("auto", batch_sizes={}, env=env)
    after = (trainer.reduce_per_replica, trainer.TensorFlowTrainer._maybe_symbolic_build)
    assert after == before
