"""Run a command and measure wall time, CPU time and peak memory of its whole process tree.

Memory is PSS summed over the process and all descendants (shared pages counted once across
forked workers), sampled from /proc via psutil (RSS is the fallback): every 100 ms in the first
second, every 250 ms after. Reading a process's PSS walks its page tables (~6 ms for 400MB
here), so sampling it every 50 ms took up to a fifth of a core from the tool measured, the more
processes it has; CPU times, which are cheap, are read every 50 ms, from the process list
found at the last PSS sample (finding it reads all of /proc). A tool that keeps both cores
busy still pays the sampler's ~4% of a core; one that leaves a core idle does not.

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


PSS_EVERY = 5  # CPU samples per PSS sample once the first second has passed
PSS_DENSE = 20  # the first second's samples: PSS every other one (short runs peak early)


def _tree(root: psutil.Process) -> list[psutil.Process]:
    """`root` and its descendants. psutil finds children by reading every process's stat in
    /proc (~1 ms here), so the list is refreshed with each PSS sample, not every 50 ms."""
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _tree_sample(
    procs: list[psutil.Process], cpu: dict[tuple[int, float], float], *, memory: bool = True
) -> int:
    """The memory of `procs` now (0 unless `memory`); records each one's user+system CPU so
    far in `cpu`."""
    total = 0
    for proc in procs:
        try:
            times = proc.cpu_times()
            # (pid, create_time): a reused pid is a different process, counted separately.
            cpu[(proc.pid, proc.create_time())] = times.user + times.system
            if memory:
                info = proc.memory_full_info()
                total += getattr(info, "pss", 0) or info.rss
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
        while not stop.is_set():
            memory = n % 2 == 0 if n < PSS_DENSE else n % PSS_EVERY == 0
            if memory:
                procs = _tree(root)
            peak = max(peak, _tree_sample(procs, sampled_cpu, memory=memory))
            n += 1
            stop.wait(0.05)

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
