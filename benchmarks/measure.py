"""Run a command and measure wall time, CPU time and peak memory of its whole process tree.

Memory is PSS summed over the process and all descendants (shared pages counted once across
forked workers), sampled from /proc via psutil (RSS is the fallback). Reading a process's PSS
walks its page tables under its memory-map lock (~6 ms for 400MB here), which stalls the
tool's own page faults and maps: read every 100 ms it added 0.05-0.18 s to a 2.3 s
two-worker ETL run. So the tree's RSS, a cheap counter, is read every 50 ms, and PSS only
when RSS reaches a new high (1% above the highest so far), and once a second besides: the peak of
PSS comes with the peak of the pages in use. CPU times, also cheap, are read every 50 ms
from the process list, which is found again every 250 ms (finding it reads all of /proc).

CPU is the larger of two counts: RUSAGE_CHILDREN (exact, but only for processes their parent
waited for) and the sum of each process's last sampled cpu_times() (sees the rest).
"""

from __future__ import annotations

import os
import resource
import subprocess
import threading
import time
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class Measurement:
    wall: float
    cpu: float
    peak_mb: float
    returncode: int
    stderr: str


TICK = 0.05  # seconds between samples of CPU time and RSS
TREE_EVERY = 5  # ticks between refreshes of the process list
PSS_IDLE = 1.0  # seconds at most between PSS reads
NEW_HIGH = 1.01  # RSS this far above the last PSS read's is a new high


def _tree(root: psutil.Process) -> list[psutil.Process]:
    """`root` and its descendants. psutil finds children by reading every process's stat in
    /proc (~1 ms here), so the list is refreshed every `TREE_EVERY` ticks, not every one."""
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _tree_sample(
    procs: list[psutil.Process], cpu: dict[tuple[int, float], float], *, pss: bool = False
) -> int:
    """The memory of `procs` now: RSS, or with `pss` PSS (an expensive read); records each
    one's user+system CPU so far in `cpu`."""
    total = 0
    for proc in procs:
        try:
            times = proc.cpu_times()
            # (pid, create_time): a reused pid is a different process, counted separately.
            cpu[(proc.pid, proc.create_time())] = times.user + times.system
            if pss:
                info = proc.memory_full_info()
                total += getattr(info, "pss", 0) or info.rss
            else:
                total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total


def run(cmd: list[str], env: dict[str, str] | None = None) -> Measurement:
    """Run `cmd` to completion and measure it."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **(env or {})}
    )
    peak = 0
    sampled_cpu: dict[tuple[int, float], float] = {}
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        root = psutil.Process(proc.pid)
        procs: list[psutil.Process] = []
        n = 0
        mark = 0  # the tree's RSS when PSS was last read
        last = float("-inf")
        while not stop.is_set():
            if n % TREE_EVERY == 0 or not procs:
                procs = _tree(root)
            rss = _tree_sample(procs, sampled_cpu)
            now = time.monotonic()
            if rss > mark * NEW_HIGH or now - last >= PSS_IDLE:
                peak = max(peak, _tree_sample(procs, sampled_cpu, pss=True))
                mark, last = max(mark, rss), now
            n += 1
            stop.wait(TICK)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - started
    stop.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    reaped = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # RUSAGE_CHILDREN only adds a process's CPU when its parent wait()s for it, and only up
    # through waited-for ancestors: a daemon or a process its parent never reaps (PySpark's JVM,
    # Ray's and Dask's workers) is missing, so a 30 s Spark job showed ~1 s. The sampled
    # per-process cpu_times() see those, but miss what a process used after its last sample
    # (up to 50 ms each) and processes too short-lived to be sampled; so take the larger.
    cpu = max(reaped, sum(sampled_cpu.values()))
    return Measurement(wall, cpu, peak / 2**20, proc.returncode, err.decode(errors="replace"))
