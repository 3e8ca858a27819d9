"""keys/values and the driver-side actions Spark users reach for (reduce, count_by_key,
collect_as_map), against plain-Python oracles, on both executors."""

from __future__ import annotations

import collections
import functools
import operator
import random

import pytest

import gristmill as gm

RNG = random.Random(3)
PAIRS = [(RNG.choice("abcdefgh"), RNG.randrange(1000)) for _ in range(5000)]


@pytest.fixture(params=["inline", "local"])
def cfg(request: pytest.FixtureRequest) -> gm.Config:
    return gm.Config(executor=request.param, workers=2, progress=False)


def test_keys_and_values(cfg: gm.Config) -> None:
    ds = gm.from_items(PAIRS, partitions=5)
    assert ds.keys().collect(config=cfg) == [k for k, _ in PAIRS]
    assert ds.values().collect(config=cfg) == [v for _, v in PAIRS]


def test_reduce_folds_partitions_then_partials(cfg: gm.Config) -> None:
    ds = gm.from_items(range(1, 10_001), partitions=7)
    assert ds.reduce(operator.add, config=cfg) == sum(range(1, 10_001))
    assert ds.reduce(max, config=cfg) == 10_000
    words = gm.from_items(["b", "a", "c"], partitions=3)  # some partitions hold one record
    assert words.reduce(min, config=cfg) == "a"
    assert gm.from_items([7]).reduce(operator.add, config=cfg) == 7


def test_reduce_of_nothing_is_an_error_and_empty_items_are_a_dataset(cfg: gm.Config) -> None:
    assert gm.from_items([]).collect(config=cfg) == []
    with pytest.raises(gm.UsageError, match="reduce of an empty dataset"):
        gm.from_items([]).reduce(operator.add, config=cfg)
    with pytest.raises(gm.UsageError, match="reduce of an empty dataset"):
        gm.from_items(range(10)).filter(lambda x: x > 99).reduce(operator.add, config=cfg)


def test_count_by_key_and_collect_as_map(cfg: gm.Config) -> None:
    ds = gm.from_items(PAIRS, partitions=5)
    assert ds.count_by_key(config=cfg) == dict(collections.Counter(k for k, _ in PAIRS))
    assert ds.collect_as_map(config=cfg) == dict(PAIRS)  # the last value of a key wins
    assert functools.reduce(operator.add, [v for _, v in PAIRS]) == ds.values().reduce(
        operator.add, config=cfg
    )
