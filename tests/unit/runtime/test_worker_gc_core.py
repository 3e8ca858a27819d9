"""Workers collect reference cycles during a task, with rarer passes than CPython's default."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gristmill as gm

LOCAL = gm.Config(executor="local", workers=1, progress=False)


def _cycles(records: Iterator[Any]) -> Iterator[tuple[int, int]]:
    freed = [0]

    class Node:
        def __init__(self) -> None:
            self.me = self  # a cycle: only the cyclic GC can free it

        def __del__(self) -> None:
            freed[0] += 1

    made = 0
    for _ in records:
        for _ in range(1000):
            Node()
            made += 1
    yield made, freed[0]


def test_a_task_making_cyclic_garbage_has_it_collected_as_it_runs() -> None:
    made, freed = (
        gm.from_items(range(200), partitions=1).map_partitions(_cycles).collect(config=LOCAL)[0]
    )
    assert made == 200_000
    # Collected during the task, not only at its end: most of the cycles are gone already.
    assert freed > made // 2
