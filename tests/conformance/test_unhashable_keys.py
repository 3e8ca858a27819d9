"""Keys with no hash (lists, sets): grouped, joined and sorted; refused, with why and what
to use instead, by the aggregations that fold keys in a hash table."""

from __future__ import annotations

import collections
import operator
from collections.abc import Callable
from typing import Any

import pytest

import gristmill as gm

ITEMS = [([i % 3, "x"], i) for i in range(60)]


def _cfg(executor: str) -> gm.Config:
    return gm.Config(executor=executor, workers=2, progress=False, max_attempts=1)


def _first(pair: tuple[Any, Any]) -> Any:
    return pair[0]


AGGREGATIONS: dict[str, Callable[[gm.Dataset], gm.Dataset]] = {
    "reduce_by_key": lambda ds: ds.reduce_by_key(operator.add),
    "combine_by_key": lambda ds: ds.combine_by_key(lambda v: [v], list.__add__, list.__add__),
    "count_by_value": lambda ds: ds.map(_first).count_by_value(),
    "distinct": lambda ds: ds.map(_first).distinct(),
}


@pytest.mark.parametrize("executor", ["inline", "local"])
@pytest.mark.parametrize("name", sorted(AGGREGATIONS))
def test_hash_aggregations_explain_a_list_key(name: str, executor: str) -> None:
    ds = AGGREGATIONS[name](gm.from_items(ITEMS, partitions=2))
    with pytest.raises(gm.JobFailedError) as e:
        ds.collect(config=_cfg(executor))
    message = str(e.value)
    assert "unhashable type: 'list'" in message
    assert "make the key a tuple" in message and "group_by_key" in message


def _add_as_set(a: Any, b: Any) -> Any:
    return {a, [b]}  # the user's own unhashable value: their error, not the key's


def test_an_aggregators_own_type_error_is_left_as_it_is() -> None:
    ds = gm.from_items([("k", 1), ("k", 2)], partitions=1).reduce_by_key(_add_as_set)
    with pytest.raises(gm.JobFailedError) as e:
        ds.collect(config=_cfg("inline"))
    assert "unhashable type: 'list'" in str(e.value)
    assert "make the key a tuple" not in str(e.value)


@pytest.mark.parametrize("executor", ["inline", "local"])
def test_list_and_set_keys_group_as_their_tuples_and_frozensets_would(executor: str) -> None:
    lists = gm.from_items(ITEMS, partitions=3).group_by_key().map_values(sorted)
    expected: dict[Any, list[int]] = collections.defaultdict(list)
    for key, value in ITEMS:
        expected[tuple(key)].append(value)
    got = lists.collect(config=_cfg(executor))
    assert all(type(key) is list for key, _ in got)
    assert {tuple(k): v for k, v in got} == expected and len(got) == len(expected)

    sets = [({i % 4, "s"}, i) for i in range(40)]
    by_set: dict[frozenset[Any], list[int]] = collections.defaultdict(list)
    for members, value in sets:
        by_set[frozenset(members)].append(value)
    grouped = gm.from_items(sets, partitions=3).group_by_key().map_values(sorted)
    got_sets = grouped.collect(config=_cfg(executor))
    assert all(type(key) is set for key, _ in got_sets)
    assert {frozenset(k): v for k, v in got_sets} == by_set and len(got_sets) == len(by_set)
