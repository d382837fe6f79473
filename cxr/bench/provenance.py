"""Where a bench's figures come from, written into its results file by the bench itself:
the exact command line, the commit and whether the tree differed from it, the date, the
machine (`cxr.runtime.machine.facts`) and the versions of the packages that set the
speed. A figure without these cannot be compared with another one.

`machine()` is the older `machine` block that `cxr.bench.rows.markdown` and
`cxr.bench.scale_report.markdown` print; `collect()` is the `provenance` block.
"""

import importlib.metadata
import pathlib
import platform
import shlex
import subprocess
import sys
import time

from cxr.runtime import machine as host

# The packages whose versions change the figures (distribution names as pip knows them).
PACKAGES = (
    "keras",
    "tensorflow",
    "tensorflow-datasets",
    "jax",
    "jaxlib",
    "numpy",
    "scipy",
    "scikit-learn",
    "pillow",
    "cxr",
)
REPOSITORY = pathlib.Path(__file__).resolve().parents[2]


def machine() -> dict:
    """What the figures were measured on (CPU, cores and GPUs as `cxr.runtime.machine` has them)."""
    import keras

    versions = package_versions()
    return {
        "cpu": host.cpu_name(),
        "cores": host.cores(),
        "gpus": host.accelerators(),
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "tensorflow": versions["tensorflow"],
        "tfds": versions["tensorflow-datasets"],
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }


def package_versions(names=PACKAGES) -> dict:
    """{distribution: installed version, or None where it is not installed}."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state(root=REPOSITORY) -> dict:
    """{"commit", "dirty", "changed"} of the checkout at `root`; None values outside git.

    `dirty` counts tracked files only: an untracked scratch file does not change what
    was measured, an edited module does, and `changed` names them.
    """

    def git(*args):
        result = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
        )
        return result.stdout if result.returncode == 0 else None

    try:
        commit = git("rev-parse", "HEAD")
        status = git("status", "--porcelain", "--untracked-files=no")
    except OSError:  # no git on this machine
        commit = status = None
    if commit is None or status is None:
        return {"commit": None, "dirty": None, "changed": None}
    changed = [line[3:] for line in status.splitlines() if line.strip()]
    return {"commit": commit.strip(), "dirty": bool(changed), "changed": changed}


def command_line(argv=None) -> str:
    """The command as typed: the program (`cxr bench` under the `cxr` command) and `argv`
    (None: this process's arguments), quoted for a shell."""
    args = sys.argv[1:] if argv is None else list(argv)
    return " ".join([sys.argv[0], *map(shlex.quote, args)])


def collect(argv=None) -> dict:
    """The `provenance` block of a results file.

    Args:
        argv: the arguments the bench was run with; None: this process's.
    """
    return {
        "command": command_line(argv),
        **git_state(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": host.facts(),
        "packages": package_versions(),
        "python": platform.python_version(),
    }
