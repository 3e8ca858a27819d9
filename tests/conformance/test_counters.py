"""Shuffle counters add up: every record written to the shuffle is read once, and the groups
a reducer hands on are the distinct keys (Hadoop's reduce input records and groups)."""

from __future__ import annotations

import collections
import operator
import random
from collections.abc import Callable
from pathlib import Path

import pytest

import gristmill as gm

RNG = random.Random(7)
PAIRS = [(f"k{RNG.randrange(500) if i % 3 else i % 40}", i) for i in range(20_000)]

SHAPES: dict[str, Callable[[gm.Dataset], gm.Dataset]] = {
    "group_by_key": lambda ds: ds.group_by_key().map_values(lambda vs: sum(1 for _ in vs)),
    "reduce_by_key": lambda ds: ds.reduce_by_key(operator.add),
    "join": lambda ds: ds.join(ds.map_values(str), broadcast=False).map_values(str),
}


@pytest.mark.parametrize("executor", ["inline", "local"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_shuffle_records_read_equal_records_written(
    executor: str, shape: str, tmp_path: Path
) -> None:
    # Four map tasks: a partition's records come from frames of four runs.
    cfg = gm.Config(executor=executor, workers=2, progress=False, scratch_dir=str(tmp_path))
    ds = SHAPES[shape](gm.from_items(PAIRS, partitions=4))
    result = ds.write_jsonl(str(tmp_path / "out"), config=cfg)
    c = result.counters
    assert c["shuffle.records_read"] == c["shuffle.records_written"] > 0
    keys = collections.Counter(k for k, _ in PAIRS)
    assert c["shuffle.groups_read"] == len(keys) == c["output.records"] or shape == "join"
    if shape == "join":  # each key's left values times its right values
        assert c["output.records"] == sum(n * n for n in keys.values())
