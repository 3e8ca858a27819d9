"""The local backend: long-lived worker processes on this machine, one task at a time each.

Workers are forked once per job and reused for every task, so per-task cost is a pipe message.
A stage's plan is pickled once and cached by each worker. A worker that dies (SIGKILL, OOM,
os._exit) is noticed through its process sentinel, replaced, and its task reported as crashed
so the scheduler can retry it. Each worker leads a process group of its own, and is killed with
that group, so the commands its tasks started (streaming) never outlive it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
from collections import deque
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

import cloudpickle

from gristmill.io import mapped
from gristmill.runtime.backends import Outcome
from gristmill.runtime.gc_policy import collect_after_task, tune_gc
from gristmill.runtime.task import TaskFailure, TaskSpec, execute_task, failure_from
from gristmill.shuffle import spare

_STOP = b""


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)


def keep_freed_memory(memory: int) -> None:
    """Let glibc's malloc keep freed blocks up to a quarter of the worker's budget.

    By default a block over 32MB is mmapped and each free unmaps it, so every task faulted its
    buffers in again, page by page (240,000 faults per GB sorted; 10% of the wall time with
    two workers faulting at once). Memory kept for reuse is memory the task already used, so
    the budget still bounds it. Does nothing where malloc is not glibc's.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None or not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return
    threshold = max(memory // 4, 1 << 20)
    mallopt(M_MMAP_THRESHOLD, threshold)
    mallopt(M_TRIM_THRESHOLD, 2 * threshold)


def _ignore(signum: int, frame: object) -> None:
    """A handler that does nothing: unlike SIG_IGN, commands the worker starts don't inherit it."""


def _own_group(pid: int) -> None:
    """Make `pid` lead a new process group; called by both the worker and the driver, so the
    group exists before either goes on, whichever runs first."""
    with contextlib.suppress(OSError):  # e.g. the worker already exec'd (spawn), or exited
        os.setpgid(pid, pid)


def _kill_group(process: BaseProcess, sig: int) -> None:
    """Send `sig` to a worker and everything it started (its group; see `_own_group`).

    Called before the worker is joined: until then its pid, and so its group id, cannot be
    reused by another process.
    """
    if process.pid is None:
        return
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:  # it never got its own group: the worker alone, if alive
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, sig)


def _die_with(driver: int) -> None:
    """Kill this worker's group once the driver is gone, even mid-task.

    A driver killed outright (SIGKILL, a terminal's hangup) cannot kill the group itself, and
    the group no longer shares the driver's terminal signals.
    """
    while os.getppid() == driver:
        time.sleep(1.0)
    if os.getpgid(0) == os.getpid():
        os.killpg(0, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def _worker_main(conn: Connection, memory: int, driver: int) -> None:
    # A group of its own: a killed worker's streaming commands go with it (`_kill_group`).
    _own_group(0)
    # Ctrl-C goes to the driver's process group, which is no longer ours, but the driver
    # decides what a cancel means whoever sends SIGINT here.
    signal.signal(signal.SIGINT, _ignore)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the driver's cancel handler is not ours
    # pyarrow's default mimalloc pool keeps freed pages per thread, which held workers at
    # several times their budget; the system allocator returns them at the same speed. One
    # arrow thread per worker, as PySpark sets OMP_NUM_THREADS per task: the workers are the
    # parallelism, more threads only compete for the same cores.
    use_pool = "ARROW_DEFAULT_MEMORY_POOL" not in os.environ  # else the user chose a pool
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    if use_pool and "pyarrow" in sys.modules:
        # The driver loaded pyarrow before forking us, so its pool choice is already made.
        import pyarrow as pa

        pa.set_memory_pool(pa.system_memory_pool())
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    keep_freed_memory(memory)
    tune_gc()
    spare.enable()
    mapped.enable()  # a file truncated under a map kills this worker, never the user's process
    stages: dict[tuple[str, int], Any] = {}
    # `driver` is the pid from before the fork: one read here could already be init's, if
    # the driver was killed while this worker started.
    threading.Thread(target=_die_with, args=(driver,), daemon=True).start()
    while True:
        # Forked siblings hold copies of the driver's pipe ends, so a killed driver does not
        # always show up as EOF here: `_die_with` notices it by this worker being re-parented.
        try:
            message = conn.recv_bytes()
        except EOFError:
            return
        if message == _STOP:
            return
        key, stage_blob, spec_blob = pickle.loads(message)
        if stage_blob is not None:
            stages.clear()  # one job at a time: keep only the current stage
            stages[key] = pickle.loads(stage_blob)
        spec = dataclasses.replace(pickle.loads(spec_blob), stage=stages[key])
        outcome: Any
        spare.task_start(key)
        try:
            outcome = execute_task(spec)
        except (Exception, SystemExit) as exc:  # a user's sys.exit() fails its task only
            outcome = failure_from(spec, exc)
        spare.task_done()
        try:
            conn.send_bytes(cloudpickle.dumps(outcome))
        except Exception as exc:  # an unpicklable result is the task's failure, not ours
            conn.send_bytes(cloudpickle.dumps(failure_from(spec, exc)))
        del outcome, spec
        collect_after_task()  # after the reply: the driver is not kept waiting


@dataclasses.dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    stage_key: tuple[str, int] | None = None
    task: TaskSpec | None = None
    started: float = 0.0


class LocalBackend:
    """`workers` processes pulling tasks from the driver over pipes."""

    def __init__(
        self, workers: int, task_timeout: float | None = None, memory: int = 512 * 1024**2
    ) -> None:
        self._timeout = task_timeout
        self._memory = memory
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        self._ctx = multiprocessing.get_context(method)
        self._workers = [self._spawn() for _ in range(workers)]
        self._queue: deque[TaskSpec] = deque()
        self._stage_blobs: dict[tuple[str, int], bytes] = {}

    @property
    def slots(self) -> int:
        return len(self._workers)

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(  # type: ignore[attr-defined]
            target=_worker_main, args=(child, self._memory, os.getpid()), daemon=True
        )
        process.start()
        assert process.pid is not None
        _own_group(process.pid)
        child.close()
        return _Worker(process, parent)

    def submit(self, spec: TaskSpec) -> None:
        self._queue.append(spec)
        self._dispatch()

    def _dispatch(self) -> None:
        for worker in self._workers:
            if not self._queue:
                return
            if worker.task is None:
                self._send(worker, self._queue.popleft())

    def _send(self, worker: _Worker, spec: TaskSpec) -> None:
        key = (spec.job_id, spec.stage.id)
        blob = None
        if worker.stage_key != key:
            if key not in self._stage_blobs:
                self._stage_blobs[key] = cloudpickle.dumps(spec.stage)
            blob = self._stage_blobs[key]
            worker.stage_key = key
        light = cloudpickle.dumps(dataclasses.replace(spec, stage=None))  # type: ignore[arg-type]
        worker.task = spec
        worker.started = time.monotonic()
        # A worker that died while idle fails the send; poll() then sees its sentinel and
        # reports the task as crashed, so it is retried on a fresh worker.
        with contextlib.suppress(OSError):
            worker.conn.send_bytes(pickle.dumps((key, blob, light)))

    def poll(self, timeout: float | None = None) -> Outcome | None:
        busy = [w for w in self._workers if w.task is not None]
        if not busy:
            return None
        handles: dict[Any, _Worker] = {}
        for w in busy:
            handles[w.conn] = w
            handles[w.process.sentinel] = w
        give_up = None if timeout is None else time.monotonic() + timeout
        while True:
            ready = wait(list(handles), self._wait_for(busy, give_up))
            if ready:
                worker = handles[ready[0]]
                break
            hung = self._hung(busy)
            if hung is not None:
                return self._finish(hung, self._kill_hung(hung))
            if give_up is not None and time.monotonic() >= give_up:
                return None
        spec = worker.task
        assert spec is not None
        outcome: Outcome
        try:
            outcome = pickle.loads(worker.conn.recv_bytes())
        except (EOFError, OSError):
            outcome = self._crashed(worker, spec)
        return self._finish(worker, outcome)

    def _finish(self, worker: _Worker, outcome: Outcome) -> Outcome:
        worker.task = None
        self._dispatch()
        return outcome

    def _wait_for(self, busy: list[_Worker], give_up: float | None) -> float | None:
        deadlines = [give_up] if give_up is not None else []
        if self._timeout is not None:
            deadlines += [w.started + self._timeout for w in busy]
        return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None

    def _hung(self, busy: list[_Worker]) -> _Worker | None:
        if self._timeout is None:
            return None
        now = time.monotonic()
        return next((w for w in busy if now - w.started >= self._timeout), None)

    def _kill_hung(self, worker: _Worker) -> TaskFailure:
        spec = worker.task
        assert spec is not None
        _kill_group(worker.process, signal.SIGKILL)
        failure = self._crashed(worker, spec)
        error = f"{spec.name} timed out after {self._timeout:g}s; its worker was killed"
        return dataclasses.replace(failure, error=error)

    def _crashed(self, worker: _Worker, spec: TaskSpec) -> TaskFailure:
        # A worker that died on its own (OOM killer, segfault) may leave commands running.
        _kill_group(worker.process, signal.SIGKILL)
        worker.process.join(timeout=5)
        code = worker.process.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        replacement = self._spawn()
        worker.process, worker.conn, worker.stage_key = (
            replacement.process,
            replacement.conn,
            None,
        )
        return TaskFailure(
            spec.name,
            spec.index,
            spec.attempt,
            f"worker process died ({how}) while running {spec.name}",
            "",
            crashed=True,
        )

    def close(self) -> None:
        for w in self._workers:
            if w.task is None:
                with contextlib.suppress(OSError):  # gone already: join() reaps it
                    w.conn.send_bytes(_STOP)
            else:
                # An abandoned attempt (the job failed or was cancelled): its worker and the
                # commands it runs. The worker keeps SIGTERM's default, so SIGKILL costs it
                # nothing, and it also stops a command that ignores SIGTERM.
                _kill_group(w.process, signal.SIGKILL)
        for w in self._workers:
            w.process.join(timeout=5)
            if w.process.is_alive():
                _kill_group(w.process, signal.SIGKILL)
                w.process.join()
            w.conn.close()
        self._workers = []
        self._queue.clear()
