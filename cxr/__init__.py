"""cxr: multi-label chest X-ray classification on NIH ChestX-ray14 with Keras 3.

Loading TensorFlow, Keras and TFDS writes C++ log lines to stderr before their logging
can be configured (oneDNN, CUDA stubs, CPU features, and from JAX a failed
`cuInit` on machines without an NVIDIA driver); no environment variable stops
them. They would bury cxr's one-line errors and progress, so the first import
happens here with stderr held: INFO lines, absl's preamble and that `cuInit` line
are dropped, anything else is replayed. Runs print the devices they use, so a
missing GPU still shows. `CXR_TF_LOGS=1` shows every line.
"""

import os
import re
import sys
import tempfile

_NOISE = re.compile(
    r"^(I\d{4} |WARNING: All log messages before absl::InitializeLog"
    r"|To enable the following instructions:|E\d{4} .*failed call to cuInit)"
)


def _import_backends_quietly():
    if os.environ.get("CXR_TF_LOGS"):
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            import keras  # noqa: F401
            import tensorflow
            import tensorflow_datasets  # noqa: F401

            tensorflow.config.list_physical_devices()  # TF looks for CUDA on first use
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().decode(errors="replace").splitlines(keepends=True)
    sys.stderr.write("".join(line for line in lines if not _NOISE.match(line)))


_import_backends_quietly()
