"""Workers keep freed buffers for reuse instead of faulting them in again every task."""

from __future__ import annotations

import ctypes.util
import subprocess
import sys

import pytest

PROBE = """
import resource, sys
from gristmill.runtime.local import keep_freed_memory
if sys.argv[1] == "tuned":
    keep_freed_memory(512 * 1024**2)
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
buf = bytearray(48 * 1024**2)  # a task's input buffer, over glibc's 32MB mmap ceiling
del buf
before = faults()
for _ in range(10):  # ten tasks, each filling a fresh 48MB buffer
    buf = bytearray(48 * 1024**2)
    del buf
print(faults() - before)
"""


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or ctypes.util.find_library("c") is None,
    reason="glibc malloc tuning",
)
def test_freed_buffers_are_reused_not_faulted_in_again() -> None:
    def faults(mode: str) -> int:
        done = subprocess.run(
            [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
        )
        return int(done.stdout)

    default, tuned = faults("default"), faults("tuned")
    pages = 10 * 48 * 1024**2 // 4096
    assert default > pages // 2  # each buffer mapped afresh, zeroed page by page
    assert tuned < pages // 20  # the same heap memory, reused
