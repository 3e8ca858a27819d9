"""Reducers combine by hashing when the partition fits, by k-way merge when not: same output."""

from __future__ import annotations

import collections
import random
from typing import Any

import pytest

import gristmill as gm
from gristmill.shuffle import reader


def _concat(a: str, b: str) -> str:
    return a + b  # associative, not commutative: exposes any change in merge order


@pytest.mark.parametrize(("memory", "hashed"), [(256 * 1024**2, True), (1024**2, False)])
def test_both_reduce_paths_merge_in_input_order(
    memory: int, hashed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    original = reader._hash_combine

    def counting(*args: Any) -> Any:
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(reader, "_hash_combine", counting)
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
    assert bool(calls) is hashed
