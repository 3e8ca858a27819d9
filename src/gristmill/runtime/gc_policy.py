"""How worker processes run CPython's cyclic garbage collector.

A shuffle writer holds a task's records until it spills them (`sort_by`, `group_by_key`, a
join's sides): up to millions of live containers, each record and its ``(key, record)`` pair.
CPython runs a full pass once ten young passes have run and a quarter more objects survived
than at the last full pass, and a full pass walks every live container. So a growing buffer
is walked again and again, four to five times over by the time it spills, at about 110 ns an
object (cache misses): py-spy put 35% of a records `sort_by`'s CPU in `gc_collect_main`.

Workers therefore take full passes rarely within a task (`FULL_EVERY` young passes, about
seven million container allocations), and take one after a task instead whenever CPython's
own policy would have by then: the task's buffers are gone, so the pass walks a small heap.
Young passes keep CPython's thresholds, so cycles that die young are collected as a task runs.
"""

from __future__ import annotations

import gc

FULL_EVERY = 1000  # middle-generation passes between full passes within a task


def tune_gc() -> int:
    """Set a worker's collector up; returns the full-pass threshold CPython had, for
    `collect_after_task`.

    What the worker inherits from the driver (modules, the plan) is frozen: no pass scans it
    again, or writes into its pages, which stay shared with the driver. A higher full-pass
    threshold the user set in the driver is kept.

    >>> import gc
    >>> before = gc.get_threshold()
    >>> tune_gc() == before[2], gc.get_threshold()[2] >= FULL_EVERY
    (True, True)
    >>> gc.unfreeze(); gc.set_threshold(*before)
    """
    gc.freeze()
    young, middle, full = gc.get_threshold()
    gc.set_threshold(young, middle, max(full, FULL_EVERY))
    return full


def collect_after_task(full: int) -> bool:
    """Run a full pass if CPython's threshold `full` (middle-generation passes since the last
    full one) has been reached; returns whether it ran."""
    if gc.get_count()[2] < full:
        return False
    gc.collect()
    return True
