"""Workers collect reference cycles during a task, and take their full passes between tasks."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import gristmill as gm
from gristmill.runtime.gc_policy import FULL_EVERY, collect_after_task, tune_gc

LOCAL = gm.Config(executor="local", workers=1, progress=False)
FREED = [0]  # per worker process: cycles of `Node` the collector has freed


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic GC can free it

    def __del__(self) -> None:
        FREED[0] += 1


def _cycles(records: Iterator[Any]) -> Iterator[tuple[int, int]]:
    made, before = 0, FREED[0]
    for _ in records:
        for _ in range(1000):
            Node()
            made += 1
    yield made, FREED[0] - before


def test_a_task_making_cyclic_garbage_has_it_collected_as_it_runs() -> None:
    made, freed = (
        gm.from_items(range(200), partitions=1).map_partitions(_cycles).collect(config=LOCAL)[0]
    )
    assert made == 200_000
    # Collected during the task, not only at its end: most of the cycles are gone already.
    assert freed > made // 2


def _hold_then_drop(records: Iterator[Any]) -> Iterator[tuple[str, int, int]]:
    """Partition 0 keeps 300,000 cycles alive through many young passes (as a shuffle buffer
    is) and drops them at its end; partition 1, run next in the same worker, reports how
    many were freed by then, and the worker's thresholds."""
    index = next(records)
    if index == 0:
        held = [Node() for _ in range(300_000)]
        yield "held", len(held), 0
        return
    yield "after", FREED[0], gc.get_threshold()[2]


def test_cycles_a_task_held_are_freed_before_the_next_task_runs() -> None:
    FREED[0] = 0  # the worker forks with the driver's count
    rows = dict(
        (tag, (a, b))
        for tag, a, b in gm.from_items([0, 1], partitions=2)
        .map_partitions(_hold_then_drop)
        .collect(config=LOCAL)
    )
    assert rows["held"][0] == 300_000
    freed, full_threshold = rows["after"]
    assert full_threshold >= FULL_EVERY  # within a task, full passes are rare...
    assert freed == 300_000  # ...so the pass after the task is what freed them


def test_collect_after_task_runs_a_full_pass_only_once_one_is_due() -> None:
    before = gc.get_threshold()
    gc.collect()
    try:
        full = tune_gc()
        assert not collect_after_task(full)  # nothing allocated since the last full pass
        junk = [[i] for i in range(200_000)]  # many young passes' worth of survivors
        assert gc.get_count()[2] >= full  # CPython would have run a full pass by now
        del junk
        assert collect_after_task(full)
        assert gc.get_count()[2] == 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
