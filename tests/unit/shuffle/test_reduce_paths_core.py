"""Reducers combine by hashing; a table past the budget is sorted, spilled and merged back:
the same output, values merged in input order, either way."""

from __future__ import annotations

import collections
import operator
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import gristmill as gm
from gristmill.shuffle import reader


def _concat(a: str, b: str) -> str:
    return a + b  # associative, not commutative: exposes any change in merge order


@pytest.mark.parametrize(("memory", "spilled"), [(256 * 1024**2, False), (1024**2, True)])
def test_both_reduce_paths_merge_in_input_order(
    memory: int, spilled: bool, count_calls: Callable[[Any, str], list[int]]
) -> None:
    calls = count_calls(reader, "spill_sorted")
    rng = random.Random(11)
    mixed = [1, 2.0, None, (1, "x")]  # several key types force the total-order fallback
    data: list[tuple[Any, str]] = []
    for i in range(40000):
        key = rng.choice(mixed) if i % 5 == 0 else f"k{rng.randint(0, 8000)}"
        data.append((key, f"{i},"))
    expected: dict[Any, str] = collections.defaultdict(str)
    for key, value in data:
        expected[key] += value
    cfg = gm.Config(executor="inline", memory=memory, progress=False)
    got = gm.from_items(data, partitions=9).reduce_by_key(_concat, 3).collect(config=cfg)
    assert dict(got) == dict(expected)
    assert len(got) == len(expected)
    assert bool(calls) is spilled


def test_a_failed_reduce_attempt_leaves_no_spills_behind(tmp_path: Path) -> None:
    # The reducer spills (1MB budget), then the user's merge fails once: the retry must not
    # find the failed attempt's spill files still taking scratch space.
    scratch = tmp_path / "scratch"
    seen: dict[str, set[str]] = {}

    def spills() -> set[str]:
        return {p.name for p in scratch.rglob("merge-*.run")}

    def merge(a: str, b: str) -> str:
        if "failed" not in seen and len(spills()) >= 3:
            seen["failed"] = spills()
            raise RuntimeError("merge fails once, after the reducer spilled")
        if "failed" in seen and "retry" not in seen:
            seen["retry"] = spills()
        return a + b

    rng = random.Random(1)
    data = [(f"k{rng.randrange(30000)}", f"{i};") for i in range(60000)]
    expected: dict[str, str] = collections.defaultdict(str)
    for key, value in data:
        expected[key] += value
    cfg = gm.Config(
        executor="inline", memory=1024**2, progress=False, scratch_dir=str(scratch), max_attempts=2
    )
    got = gm.from_items(data, partitions=4).combine_by_key(str, operator.add, merge, 1)
    assert dict(got.collect(config=cfg)) == dict(expected)
    assert seen["failed"], "the reducer should have spilled before the failure"
    assert not seen["failed"] & seen["retry"]
