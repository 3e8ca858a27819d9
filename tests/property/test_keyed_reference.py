"""Keyed operations equal an in-memory reference for random data, splits and tiny budgets."""

from __future__ import annotations

import collections
import operator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import gristmill as gm

keys = st.one_of(st.integers(-5, 5), st.sampled_from(["a", "b", "c", "dd", ""]))
values = st.one_of(st.integers(0, 100), st.text(max_size=300))
pairs = st.lists(st.tuples(keys, st.integers(0, 1000)), max_size=300)


def cfg(memory_mb: int) -> gm.Config:
    return gm.Config(executor="inline", memory=memory_mb * 1024**2, progress=False)


def _sortable(key: Any) -> tuple[int, Any]:
    return (0, key) if isinstance(key, int) else (1, key)


@settings(max_examples=40, deadline=None)
@given(pairs, st.integers(1, 7), st.integers(1, 5), st.integers(1, 3))
def test_reduce_and_group(data: list[tuple[Any, int]], parts: int, reducers: int, mb: int) -> None:
    ds = gm.from_items(data, partitions=parts)
    ref: dict[Any, list[int]] = collections.defaultdict(list)
    for k, v in data:
        ref[k].append(v)
    got = dict(ds.reduce_by_key(operator.add, reducers).collect(config=cfg(mb)))
    assert got == {k: sum(v) for k, v in ref.items()}
    groups = ds.group_by_key(reducers).map_values(list).collect(config=cfg(mb))
    assert dict(groups) == dict(ref)  # values keep input order
    assert len(groups) == len(ref)


@settings(max_examples=40, deadline=None)
@given(pairs, pairs, st.integers(1, 5))
def test_join_and_left_join(
    left: list[tuple[Any, int]], right: list[tuple[Any, int]], n: int
) -> None:
    a, b = gm.from_items(left, partitions=3), gm.from_items(right, partitions=2)
    expected = [(k, (lv, rv)) for k, lv in left for k2, rv in right if k == k2]
    got = a.join(b, n).collect(config=cfg(1))
    assert sorted(got, key=repr) == sorted(expected, key=repr)
    right_keys = {k for k, _ in right}
    expected_left = expected + [(k, (lv, None)) for k, lv in left if k not in right_keys]
    got_left = a.left_join(b, n).collect(config=cfg(1))
    assert sorted(got_left, key=repr) == sorted(expected_left, key=repr)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(keys, values), max_size=400), st.integers(1, 6), st.booleans())
def test_sort_by_total_order_stable(data: list[tuple[Any, Any]], n: int, ascending: bool) -> None:
    ds = gm.from_items(data, partitions=3)
    got = ds.sort_by(lambda kv: _sortable(kv[0]), ascending=ascending, partitions=n).collect(
        config=cfg(1)
    )
    assert got == sorted(data, key=lambda kv: _sortable(kv[0]), reverse=not ascending)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.one_of(st.none(), keys, st.floats(allow_nan=False)), max_size=200))
def test_mixed_type_keys_group_and_count(items: list[Any]) -> None:
    ds = gm.from_items(items, partitions=3)
    counted = ds.count_by_value(2).collect(config=cfg(1))
    assert dict(counted) == dict(collections.Counter(items))
    assert sorted(ds.distinct(2).collect(config=cfg(1)), key=repr) == sorted(set(items), key=repr)


@settings(max_examples=30, deadline=None)
@given(pairs, st.integers(1, 5), st.booleans())
def test_group_by_key_secondary_sort(data: list[tuple[Any, int]], n: int, descending: bool) -> None:
    ds = gm.from_items(data, partitions=3)
    key = (lambda v: -v) if descending else None
    got = (
        ds.group_by_key(n, sort_values=True, value_key=key).map_values(list).collect(config=cfg(1))
    )
    ref: dict[Any, list[int]] = collections.defaultdict(list)
    for k, v in data:
        ref[k].append(v)
    assert dict(got) == {k: sorted(v, reverse=descending) for k, v in ref.items()}
