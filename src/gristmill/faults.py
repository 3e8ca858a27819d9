"""Fault injection for the reliability tests: SIGKILL this process at a named point.

`GRISTMILL_FAULT=POINT[:MARKER]` kills the process that reaches POINT; with MARKER (a file
path) only the first process to get there dies, so the retry can succeed. Points: ``map``,
``spill``, ``reduce`` (in workers), ``task_commit``, ``job_commit`` (in the driver). Points
``scratch_full`` and ``output_full`` instead raise ENOSPC, as a full disk does. Unset, a check
costs one environment lookup at coarse points only (never per record).
"""

from __future__ import annotations

import errno
import os
import signal

VARIABLE = "GRISTMILL_FAULT"


def inject(point: str) -> None:
    """Die here if the fault specification names `point`."""
    spec = os.environ.get(VARIABLE)
    if not spec:
        return
    name, _, marker = spec.partition(":")
    if name != point:
        return
    if marker:
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return  # someone already died here once
        os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)


def disk_full(point: str) -> None:
    """Raise ENOSPC here if the fault specification names `point` (a full disk, simulated)."""
    if os.environ.get(VARIABLE, "").partition(":")[0] == point:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
