"""cxr.runtime.machine: the one definition of the machine's facts, which the speed
cache and the benches share (tests/bench/test_bench_rows.py checks that they agree)."""

import os
import shutil
import subprocess
import sys

import pytest

from cxr.runtime import machine

ONE_CORE = """
import os, sys
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
from cxr.runtime import machine
print(machine.cores(), os.cpu_count(), machine.cpu_name() != "")
assert "keras" not in sys.modules and "tensorflow" not in sys.modules, "a framework was imported"
"""


@pytest.mark.skipif(not shutil.which("nproc"), reason="needs coreutils' nproc")
def test_cores_are_the_cores_this_process_may_use():
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout
    assert machine.cores() == int(nproc)  # nproc counts the affinity mask too


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="Linux affinity")
def test_a_process_held_to_one_core_counts_one_without_importing_a_framework():
    out = subprocess.run(
        [sys.executable, "-c", ONE_CORE], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "1" and out[2] == "True"
    assert int(out[1]) == os.cpu_count()  # what the bench counted before: every core
