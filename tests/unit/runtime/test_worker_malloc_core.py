"""Workers keep freed buffers for reuse instead of faulting them in again every task."""

from __future__ import annotations

import ctypes.util
import os
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


POOL = """
import os, sys
import pyarrow as pa  # the driver loads pyarrow before the job forks its workers
import gristmill as gm

def pool(_):
    import pyarrow as pa
    return pa.default_memory_pool().backend_name

cfg = gm.Config(executor="local", workers=2, progress=False)
seen = gm.from_items(range(4)).map(pool).collect(config=cfg)
print(pa.default_memory_pool().backend_name, sorted(set(seen)))
"""


@pytest.mark.parametrize(("preset", "want"), [(None, "['system']"), ("jemalloc", "['jemalloc']")])
def test_workers_use_the_system_arrow_pool_unless_the_user_chose_one(
    preset: str | None, want: str
) -> None:
    # mimalloc's per-thread free pages held workers at several times their budget.
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if preset is not None:
        env["ARROW_DEFAULT_MEMORY_POOL"] = preset
    done = subprocess.run(
        [sys.executable, "-c", POOL], capture_output=True, text=True, check=True, env=env
    )
    driver, workers = done.stdout.split(" ", 1)
    assert workers.strip() == want
    if preset is not None:
        assert driver == preset  # the user's own process keeps its pool
