"""The running task's user counters: where `increment_counter` adds, on whatever worker runs it.

One task runs at a time per process, so a process-wide slot set by `execute_task` is enough;
the counters travel back in the task result and count only for the committed attempt.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

USER_PREFIX = "user."
_current: list[dict[str, int]] = []


@contextlib.contextmanager
def task_counters(counters: dict[str, int]) -> Iterator[dict[str, int]]:
    """Route `increment` into `counters` while a task runs."""
    _current.append(counters)
    try:
        yield counters
    finally:
        _current.pop()


@contextlib.contextmanager
def task_environment(values: dict[str, str], scratch: str) -> Iterator[None]:
    """Set Hadoop's task variables (``mapreduce_map_input_file``, ...) while a task runs.

    Scripts written for Hadoop read these; the previous values come back afterwards, which
    matters on the inline executor where tasks share the driver's process. Temporary files
    (`tempfile`, used by user code and by joins that spill) go to the job's scratch directory,
    as Hadoop points a task's tmp dir at its work area, so they are removed with the job.
    """
    saved = {name: os.environ.get(name) for name in values}
    saved_tmp = tempfile.tempdir
    os.environ.update(values)
    tempfile.tempdir = scratch
    try:
        yield
    finally:
        tempfile.tempdir = saved_tmp
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def increment(group: str, name: str, amount: int = 1) -> None:
    """Add `amount` to the user counter ``user.GROUP.NAME`` of the running task.

    Outside a task (plain Python calls, e.g. in a unit test) there is nothing to count into,
    so the call is a no-op.
    """
    if _current:
        key = f"{USER_PREFIX}{group}.{name}"
        counters = _current[-1]
        counters[key] = counters.get(key, 0) + amount
