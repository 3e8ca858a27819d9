"""How worker processes run CPython's cyclic garbage collector.

A shuffle writer holds a task's records until it spills them (`sort_by`, `group_by_key`, a
join's sides): up to millions of live containers, each record and its ``(key, record)`` pair.
CPython runs a full pass once ten young passes have run and a quarter more objects survived
than at the last full pass, and a full pass walks every live container. So a growing buffer
is walked again and again, four to five times over by the time it spills, at about 110 ns an
object (cache misses): py-spy put 35% of a records `sort_by`'s CPU in `gc_collect_main`.

Workers instead take a full pass once the containers allocated since the last one (net of
those freed) reach `GROWTH` times those that survived it, as a tracing collector sizes its
heap: a growing buffer is walked about twice over in all. The price: cyclic garbage that
outlived the young passes (a parsed page with parent links) can wait until it is as many
objects as the live ones, where CPython's rule lets a quarter wait (a review measured a
worker at 109MB against 84MB, under a 128MB budget, on such a job; 167MB with twice). Young
passes keep CPython's thresholds, so cycles that die young go as a task runs. After a task,
a full pass runs where CPython's own rule would have run one by then: its buffers are gone,
so the pass walks a small heap.

CPython 3.14's incremental collector no longer walks the whole old generation at once: there
workers keep its policy and only freeze what they inherit.
"""

from __future__ import annotations

import gc
import sys
from typing import Any

GROWTH = 1  # allocations between full passes, as a multiple of the containers live after one
ADAPTIVE = sys.version_info < (3, 14)  # generational full passes, sized by threshold 2


class _State:
    floor = 10  # CPython's full-pass threshold: passes never come sooner than with it
    live = 0  # containers that survived the last full pass


def tune_gc() -> None:
    """Set a worker's collector up.

    What the worker inherits from the driver (modules, the plan) is frozen: no pass scans it
    again, or writes into its pages, which stay shared with the driver. After each full pass
    the next one is set `GROWTH` times the survivors away (never nearer than CPython's).

    >>> import gc
    >>> before = gc.get_threshold()
    >>> tune_gc()
    >>> gc.get_threshold()[:2] == before[:2]
    True
    >>> if ADAPTIVE: gc.callbacks.remove(_size_next_full_pass)
    >>> gc.unfreeze(); gc.set_threshold(*before)
    """
    gc.freeze()
    if not ADAPTIVE:
        return
    _State.floor = gc.get_threshold()[2]
    if _size_next_full_pass not in gc.callbacks:
        gc.callbacks.append(_size_next_full_pass)
    gc.collect()  # a first full pass sizes the next one


def _size_next_full_pass(phase: str, info: dict[str, Any]) -> None:
    if phase != "stop" or info["generation"] != 2:
        return
    _State.live = live = len(gc.get_objects(generation=2))  # frozen ones are not walked
    young, middle, _ = gc.get_threshold()
    # The full-pass threshold counts middle passes, each `young * middle` allocations.
    gc.set_threshold(young, middle, max(_State.floor, GROWTH * live // max(1, young * middle)))


def collect_after_task() -> bool:
    """Run a full pass if CPython's own rule would have run one by now: its threshold of
    middle passes reached, and at least a quarter as many containers allocated since the
    last full pass as survived it. Returns whether it ran."""
    if not ADAPTIVE:
        return False
    young, middle, _ = gc.get_threshold()
    count0, count1, count2 = gc.get_count()
    allocated = (count2 * middle + count1) * young + count0
    if count2 < _State.floor or 4 * allocated < _State.live:
        return False
    gc.collect()
    return True
