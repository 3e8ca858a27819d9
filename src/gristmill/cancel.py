"""Cancelling a job from outside: SIGTERM means what Ctrl-C means.

Both front doors, the `gristmill` command and a MapReduceJob script run directly, install this
at their edge, so a `kill PID` unwinds the job and removes its staging, lock and scratch files,
and exits 130. Imports nothing from gristmill.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_cancels() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt in the main thread.

    Outside the main thread (a job started by a service's thread) signals are not ours to
    handle, and nothing changes. The previous handler comes back afterwards.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
