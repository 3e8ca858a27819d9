"""One spare sort buffer per worker process, reused from one sort task to the next.

A columnar sort's map buffer and reduce gather are tens of megabytes each: malloc maps them
fresh every time, and the kernel zeroes every page a task touches (5% of a 1GB TeraSort's CPU
here). A worker keeps the last one between consecutive tasks of a stage instead (they do the
same work). It is freed when a task of another stage starts, when a reducer merges instead of
gathering (its partition is too big: it needs the memory), and after a task that did not
borrow it. Off unless `enable` was called (worker processes do), so a driver running tasks
inline keeps nothing after its job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

_enabled = False
_spare: npt.NDArray[np.uint8] | None = None
_used = False  # borrowed since the last `task_done`
_stage: object = None  # what `task_start` was last given


def enable() -> None:
    """Keep a returned buffer for the next sort task of this process."""
    global _enabled
    _enabled = True


def task_start(stage: object) -> None:
    """A task of `stage` begins: a spare kept by another stage's tasks is freed first."""
    global _spare, _stage
    if stage != _stage:
        _spare = None
        _stage = stage


def drop() -> None:
    """Free the spare now, for a task about to spend its budget on something else."""
    global _spare
    _spare = None


def borrow(rows: int, width: int) -> npt.NDArray[np.uint8]:
    """An uninitialised ``(rows, width)`` uint8 array, from the spare when it is big enough.

    >>> borrow(3, 4).shape
    (3, 4)
    """
    import numpy as np

    global _spare, _used
    _used = True
    need = rows * width
    spare, _spare = _spare, None
    if spare is None or spare.size < need:
        spare = np.empty(need, dtype=np.uint8)  # a smaller spare is freed here
    return spare[:need].reshape(rows, width)


def give_back(array: npt.NDArray[np.uint8]) -> None:
    """Return an array from `borrow` that nothing references any more."""
    global _spare
    if not _enabled:
        return
    root = array
    while isinstance(root.base, type(array)):
        root = root.base
    if _spare is None or root.size > _spare.size:
        _spare = root


def task_done() -> None:
    """End of a task: a spare the task did not borrow is freed."""
    global _spare, _used
    if not _used:
        _spare = None
    _used = False
