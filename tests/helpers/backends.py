"""Running a test file again under the other Keras backend."""

import os
import subprocess
import sys


def rerun_under_the_other_backend(test_file: str) -> None:
    """Runs the other tests of `test_file` with the other Keras backend (TF <-> JAX).

    The same tests under each backend, without importing Keras twice in one process.
    """
    import keras

    other = "tensorflow" if keras.backend.backend() == "jax" else "jax"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            test_file,
            "-q",
            "-m",
            "not large",
            "-k",
            "not other_backend",
        ],
        env={**os.environ, "KERAS_BACKEND": other},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-5000:]
