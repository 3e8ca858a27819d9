"""Workers collect reference cycles during a task, space their full passes by the live heap,
and take one between tasks."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

import gristmill as gm
from gristmill.runtime import gc_policy
from gristmill.runtime.gc_policy import ADAPTIVE, GROWTH, collect_after_task, tune_gc

LOCAL = gm.Config(executor="local", workers=1, progress=False)
FREED = [0]  # per worker process: cycles of `Node` the collector has freed
adaptive_only = pytest.mark.skipif(
    not ADAPTIVE, reason="CPython 3.14's incremental collector keeps its policy"
)


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
    many were freed by then."""
    index = next(records)
    if index == 0:
        held = [Node() for _ in range(300_000)]
        gc.collect()  # a full pass while they are live: the next one is sized by them
        young, middle, threshold = gc.get_threshold()
        # CPython's rule would take a full pass by the end: its threshold of middle passes
        # reached and a quarter as many containers allocated as the 300,000 live ones.
        more = [[i] for i in range(100_000)]
        yield "held", len(held) + len(more) - 100_000, threshold
        yield "middle pass", young * middle, 0
        return
    yield "after", FREED[0], 0


@adaptive_only
def test_cycles_a_task_held_are_freed_before_the_next_task_runs() -> None:
    FREED[0] = 0  # the worker forks with the driver's count
    rows = {
        tag: (a, b)
        for tag, a, b in gm.from_items([0, 1], partitions=2)
        .map_partitions(_hold_then_drop)
        .collect(config=LOCAL)
    }
    held, threshold = rows["held"]
    assert held == 300_000
    # The next full pass is GROWTH x the live containers away, far later than CPython's 10
    # middle passes...
    assert threshold >= GROWTH * held // rows["middle pass"][0] > 10
    # ...so the pass after the task is what freed them before the next task ran.
    assert rows["after"][0] == 300_000


def _churn(records: Iterator[Any]) -> Iterator[tuple[int, int]]:
    """Builds 60 documents of 20,000 linked nodes (each outlives several young passes, as a
    parsed page with parent links does) and drops each before building the next."""
    made, before = 0, FREED[0]
    for _ in records:
        for _ in range(60):
            document = [Node() for _ in range(20_000)]
            made += len(document)
            del document
    yield made, FREED[0] - before


def test_cyclic_garbage_that_outlived_young_passes_is_collected_during_the_task() -> None:
    made, freed = gm.from_items([0], partitions=1).map_partitions(_churn).collect(config=LOCAL)[0]
    assert made == 1_200_000
    # Full passes come GROWTH x the (small) live heap apart: at most a few documents wait.
    assert made - freed <= 6 * 20_000


@pytest.fixture
def tuned() -> Iterator[None]:
    """This process's collector set up as a worker's, then put back."""
    before = gc.get_threshold()
    tune_gc()
    try:
        yield
    finally:
        gc.callbacks.remove(gc_policy._size_next_full_pass)
        gc.unfreeze()
        gc.set_threshold(*before)


@adaptive_only
def test_the_next_full_pass_is_sized_by_the_containers_that_survived_the_last(
    tuned: None,
) -> None:
    young, middle, floor = gc.get_threshold()
    live = [[i] for i in range(500_000)]
    gc.collect()
    assert gc.get_threshold()[2] >= GROWTH * len(live) // (young * middle)
    del live
    gc.collect()
    assert gc.get_threshold()[2] < GROWTH * 500_000 // (young * middle)  # sized down again
    assert gc.get_threshold()[2] >= floor  # never sooner than CPython's own threshold


@adaptive_only
def test_collect_after_task_runs_a_full_pass_only_where_cpythons_rule_would(tuned: None) -> None:
    young, middle, _ = gc.get_threshold()
    floor = gc_policy._State.floor
    assert not collect_after_task()  # no middle pass since the last full one
    for _ in range(floor):
        gc.collect(1)  # each middle pass counts towards the next full one
    live = gc_policy._State.live
    gc_policy._State.live = 4 * floor * young * middle + 1  # a heap a quarter can't reach
    assert not collect_after_task()
    gc_policy._State.live = live
    assert collect_after_task()
    assert gc.get_count()[2] == 0
