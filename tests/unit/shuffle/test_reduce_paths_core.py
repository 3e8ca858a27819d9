"""Reducers combine by hashing; a table past the budget is sorted, spilled and merged back:
the same output, values merged in input order, either way."""

from __future__ import annotations

import collections
import random
from typing import Any

import pytest

import gristmill as gm
from gristmill.shuffle import merge as shuffle_merge
from gristmill.shuffle import reader


def _concat(a: str, b: str) -> str:
    return a + b  # associative, not commutative: exposes any change in merge order


@pytest.mark.parametrize(("memory", "spilled"), [(256 * 1024**2, False), (1024**2, True)])
def test_both_reduce_paths_merge_in_input_order(
    memory: int, spilled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    original = shuffle_merge.spill_sorted

    def counting(*args: Any) -> Any:
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(reader, "spill_sorted", counting)
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
