"""How worker processes run CPython's cyclic garbage collector.

A shuffle writer holds a task's records until it spills them (`sort_by`, `group_by_key`, a
join's sides): up to millions of live containers, each record and its ``(key, record)`` pair.
CPython runs a full pass once ten young passes have run and a quarter more objects survived
than at the last full pass, and a full pass walks every live container. So a growing buffer
is walked again and again, four to five times over by the time it spills, at about 110 ns an
object (cache misses): py-spy put 35% of a records `sort_by`'s CPU in `gc_collect_main`.

Workers instead take a full pass once the containers allocated since the last one (net of
those freed) reach `GROWTH` times those that survived it, as a tracing collector sizes its
heap (Go's GOGC): a growing buffer is walked about 1.5 times over in all, and cyclic garbage
that outlived the young passes (a parsed document with parent links, say) is held to at most
`GROWTH` times the live objects, never more than CPython's own policy would allow plus that
share. Young passes keep CPython's thresholds, so cycles that die young go as a task runs.
After a task, when its buffers are gone and the heap is small, a full pass runs whenever
CPython's own policy would have run one by then.
"""

from __future__ import annotations

import gc
from typing import Any

GROWTH = 2  # allocations between full passes, as a multiple of the containers live after one


def tune_gc() -> int:
    """Set a worker's collector up; returns the full-pass threshold CPython had, for
    `collect_after_task`.

    What the worker inherits from the driver (modules, the plan) is frozen: no pass scans it
    again, or writes into its pages, which stay shared with the driver. After each full pass
    the next one is set `GROWTH` times the survivors away (never nearer than CPython's).

    >>> import gc
    >>> before = gc.get_threshold()
    >>> tune_gc() == before[2]
    True
    >>> gc.callbacks.remove(_size_next_full_pass); gc.unfreeze(); gc.set_threshold(*before)
    """
    gc.freeze()
    full = gc.get_threshold()[2]
    _floor[0] = full
    if _size_next_full_pass not in gc.callbacks:
        gc.callbacks.append(_size_next_full_pass)
    gc.collect()  # a first full pass sizes the next one
    return full


_floor = [10]  # CPython's full-pass threshold: passes never come sooner than with it


def _size_next_full_pass(phase: str, info: dict[str, Any]) -> None:
    if phase != "stop" or info["generation"] != 2:
        return
    live = len(gc.get_objects(generation=2))  # the frozen ones are not walked: not counted
    young, middle, _ = gc.get_threshold()
    # The full-pass threshold counts middle passes, each `young * middle` allocations.
    gc.set_threshold(young, middle, max(_floor[0], GROWTH * live // max(1, young * middle)))


def collect_after_task(full: int) -> bool:
    """Run a full pass if CPython's threshold `full` (middle-generation passes since the last
    full one) has been reached; returns whether it ran."""
    if gc.get_count()[2] < full:
        return False
    gc.collect()
    return True
