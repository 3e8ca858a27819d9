"""The backend protocol, and the inline backend that runs tasks in the calling process.

The scheduler only submits task specs and polls for outcomes; a backend decides where tasks
run (this process, worker processes, a Ray cluster). Keeping the seam this narrow is what lets
a new backend arrive without touching the API or the planner.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

from gristmill.runtime.task import TaskFailure, TaskResult, TaskSpec, execute_task, failure_from

Outcome = TaskResult | TaskFailure


class Backend(Protocol):
    """Runs task attempts; outcomes come back in completion order."""

    @property
    def slots(self) -> int:
        """How many tasks can run at once."""
        ...

    def submit(self, spec: TaskSpec) -> None:
        """Queue one attempt."""
        ...

    def poll(self, timeout: float | None = None) -> Outcome | None:
        """Block until a submitted attempt finishes (None on timeout)."""
        ...

    def close(self) -> None:
        """Stop all work and release processes; safe to call twice."""
        ...


class InlineBackend:
    """Runs each task in this process when polled: one at a time, debuggable with pdb."""

    slots = 1

    def __init__(self) -> None:
        self._queue: deque[TaskSpec] = deque()

    def submit(self, spec: TaskSpec) -> None:
        self._queue.append(spec)

    def poll(self, timeout: float | None = None) -> Outcome | None:
        if not self._queue:
            return None
        spec = self._queue.popleft()
        try:
            return execute_task(spec)
        # KeyboardInterrupt and SystemExit propagate: in the caller's own process they may be
        # its shutdown (a SIGTERM handler calling sys.exit), not the task's failure.
        except Exception as exc:
            return failure_from(spec, exc)

    def close(self) -> None:
        self._queue.clear()
