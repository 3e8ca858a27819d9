"""Keys whose natural order is not total (NaN, sets, None, numpy ints next to Decimals) still
group, join and sort exactly: each case here split groups or lost join matches before runs
carried their key family (`shuffle.order`)."""

from __future__ import annotations

import datetime
import decimal
import enum
import math
import operator
import random
from collections import Counter, defaultdict
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gristmill as gm
from gristmill.shuffle.order import TOTAL, key_family, order_key

NAN = float("nan")
INLINE = gm.Config(executor="inline", progress=False)
SPILLING = [
    gm.Config(executor="inline", progress=False, memory=1024**2),
    gm.Config(executor="local", workers=2, progress=False, memory=1024**2),
]


def canon(key: Any) -> Any:
    """The oracle's key: all NaNs are one key, as the engine documents."""
    return "<nan>" if isinstance(key, float) and math.isnan(key) else key


def sums(pairs: list[tuple[Any, int]]) -> dict[Any, int]:
    out: dict[Any, int] = defaultdict(int)
    for key, value in pairs:
        out[canon(key)] += value
    return dict(out)


def test_a_nan_key_does_not_split_the_other_float_keys_groups() -> None:
    data = [(2.0, "a"), (NAN, "x"), (1.0, "b"), (1.0, "c"), (2.0, "d"), (0.0, "e")]
    got = gm.from_items(data, partitions=2).group_by_key(1).map_values(list).collect(config=INLINE)
    assert [(canon(k), v) for k, v in got] == [
        (0.0, ["e"]),
        (1.0, ["b", "c"]),
        (2.0, ["a", "d"]),
        ("<nan>", ["x"]),
    ]


@pytest.mark.parametrize("cfg", SPILLING, ids=["inline", "local"])
def test_nan_keys_are_one_key_and_the_rest_sum_exactly_with_spills(cfg: gm.Config) -> None:
    data = [(NAN if i % 911 == 0 else float(i % 3000), 1) for i in range(12000)]
    got = gm.from_items(data, partitions=3).reduce_by_key(operator.add, 2).collect(config=cfg)
    assert sums(got) == sums(data)
    assert len(got) == len(sums(data))  # no key twice, NaN included


def test_a_nan_on_the_left_loses_no_other_join_match() -> None:
    left = [(NAN if i == 7 else float(i % 50), i) for i in range(200)]
    right = [(float(k), f"r{k}") for k in range(51)]
    expected = sorted((k, (v, r)) for k, v in left for k2, r in right if k == k2)
    for broadcast in (False, True):
        joined = gm.from_items(left, partitions=3).join(
            gm.from_items(right, partitions=2), broadcast=broadcast
        )
        assert sorted(joined.collect(config=INLINE)) == expected


def test_numpy_ints_and_decimals_meet_their_equal_python_keys() -> None:
    for left_key, right_key in ((np.int64(1), 1), (decimal.Decimal("2.5"), 2.5)):
        left = gm.from_items([(left_key, "a")], partitions=1)
        right = gm.from_items([(right_key, "x")], partitions=1)
        for broadcast in (False, True):
            assert left.join(right, broadcast=broadcast).collect(config=INLINE) == [
                (left_key, ("a", "x"))
            ]


@pytest.mark.parametrize("cfg", SPILLING, ids=["inline", "local"])
def test_numpy_and_python_int_keys_from_different_tasks_sum_once(cfg: gm.Config) -> None:
    numpy_keys = [(np.int64(i % 5000), 1) for i in range(10000)]  # enough to spill at 1MB
    int_keys = [(i % 5000, 1) for i in range(10000)]
    got = gm.from_items(numpy_keys + int_keys, partitions=2).reduce_by_key(operator.add, 1)
    assert sorted(v for _, v in got.collect(config=cfg)) == [4] * 5000


@pytest.mark.parametrize("cfg", [INLINE, SPILLING[1]], ids=["inline", "local"])
def test_frozenset_keys_group_whole(cfg: gm.Config) -> None:
    a, b = frozenset({"a"}), frozenset({"b"})  # neither < the other: subset order is partial
    grouped = gm.from_items([(b, 1), (a, 2), (a, 3)], partitions=2).group_by_key(1)
    assert sorted(grouped.map_values(list).collect(config=cfg), key=repr) == [(a, [2, 3]), (b, [1])]
    rng = random.Random(5)
    data = [(frozenset(rng.sample(range(6), rng.randint(0, 3))), 1) for _ in range(400)]
    got = gm.from_items(data, partitions=4).reduce_by_key(operator.add, 3).collect(config=cfg)
    assert sorted(got, key=repr) == sorted(Counter(k for k, _ in data).items(), key=repr)


def test_keys_comparable_within_a_task_but_not_across_tasks_merge() -> None:
    cases: list[list[tuple[Any, int]]] = [
        [((0, "a"), 1), ((1, None), 1), ((1, "b"), 1)],  # None and str at the same position
        [(datetime.date(2020, 1, 1), 1), (datetime.datetime(2020, 1, 1, 5), 1)],
    ]
    for data in cases:
        got = gm.from_items(data, partitions=2).reduce_by_key(operator.add, 1)
        assert sorted(got.collect(config=INLINE), key=lambda kv: order_key(kv[0])) == sorted(
            data, key=lambda kv: order_key(kv[0])
        )


def test_secondary_sort_of_values_of_different_types_in_different_tasks() -> None:
    data = [("k", 2), ("k", 1), ("k", "b"), ("k", "a")]
    got = gm.from_items(data, partitions=2).group_by_key(1, sort_values=True).map_values(list)
    assert got.collect(config=INLINE) == [("k", [1, 2, "a", "b"])]


def _count_up(_: Any) -> Any:
    return iter(range(3 * 4096))


def _rare_none_chunk(chunk: list[int]) -> list[tuple[Any, str]]:
    # map_partitions output arrives in chunks of 4096: the last is one None key, alone in its
    # own spill run and never sampled for the range boundaries.
    return [(i, "v") for i in chunk[:-1]] if chunk[0] < 8192 else [(None, "rare")]


@pytest.mark.parametrize("partitions", [1, 2])
def test_sort_by_with_a_key_type_only_in_its_own_unsampled_run(partitions: int) -> None:
    cfg = gm.Config(executor="inline", progress=False, memory=1024**2)
    ds = gm.from_items([0], partitions=1).map_partitions(_count_up).map_batches(_rare_none_chunk)
    got = ds.sort_by(lambda kv: kv[0], partitions=partitions).collect(config=cfg)
    assert got == [(None, "rare")] + [(i, "v") for i in range(8192) if i not in (4095, 8191)]


scalars = st.one_of(
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=2),
    st.binary(max_size=2),
    st.none(),
    st.booleans(),
    st.integers(-5, 5).map(np.int64),
    st.decimals(allow_nan=False, allow_infinity=False, places=1, min_value=-5, max_value=5),
)
keys = st.recursive(scalars, lambda inner: st.tuples(inner, inner), max_leaves=4)


@given(st.lists(keys, max_size=30))
def test_a_natural_family_sorts_as_the_total_order_does(batch: list[Any]) -> None:
    family = key_family(batch)
    if family == TOTAL:
        return
    natural = sorted(batch)  # must not raise
    assert [order_key(k) for k in natural] == sorted(map(order_key, batch))


@pytest.mark.parametrize("broadcast", [False, True])
def test_nan_keys_join_each_other_in_both_joins(broadcast: bool) -> None:
    left = gm.from_items([(float("nan"), "a"), (1.0, "b")], partitions=2)
    right = gm.from_items([(float("nan"), "x"), (float("nan"), "y"), (1.0, "z")], partitions=2)
    got = left.join(right, broadcast=broadcast).collect(config=INLINE)
    expected = [(1.0, ("b", "z")), ("<nan>", ("a", "x")), ("<nan>", ("a", "y"))]
    assert sorted(((canon(k), v) for k, v in got), key=repr) == sorted(expected, key=repr)


class Color(enum.Enum):
    RED = 1
    BLUE = 2


def test_numpy_scalars_beside_tuples_and_decimals_group_by_value() -> None:
    left = gm.from_items([(np.float64(2.0), "L"), ((2,), "L2")], 1)
    joined = left.join(gm.from_items([((2,), "R")], 1), 1, broadcast=False)
    assert joined.collect(config=INLINE) == [((2,), ("L2", "R"))]  # numpy's != is elementwise
    mixed = gm.from_items([(np.int64(-3), 1), (decimal.Decimal(-2), 1)], 1).group_by_key(1)
    assert mixed.map_values(list).collect(config=INLINE) == [
        (np.int64(-3), [1]),
        (decimal.Decimal(-2), [1]),
    ]
    data = [(np.True_, 1)] * 3 + [(1, 10), ("a", 100)] * 3  # np.True_ == 1, as in a dict
    got = gm.from_items(data, 2).group_by_key(1).map_values(list).collect(config=INLINE)
    assert got == [(np.True_, [1, 1, 1, 10, 10, 10]), ("a", [100, 100, 100])]
    # float32(0.1) hashes apart from 0.1 (a dict keeps them apart): two keys, each whole.
    f32, near = np.float32(0.1), float(np.float32(0.1))
    data2 = [(near, 1), (f32, 1), (0.1, 1), (near, 1)]
    got2 = gm.from_items(data2, 1).group_by_key(1).map_values(list).collect(config=INLINE)
    assert got2 == [(0.1, [1]), (near, [1, 1, 1])]


@pytest.mark.parametrize("cfg", [INLINE, SPILLING[0]], ids=["hashed", "merged"])
def test_a_nan_inside_a_key_is_one_key_too(cfg: gm.Config) -> None:
    data = [(("a", float("nan")), 1)] * 3 + [(("a", 1.0), 1)]
    got = gm.from_items(data, 2).reduce_by_key(operator.add, 1).collect(config=cfg)
    assert sorted((repr(k), v) for k, v in got) == [("('a', 1.0)", 1), ("('a', nan)", 3)]


def test_keys_without_an_order_of_their_own_still_shuffle() -> None:
    utc = datetime.UTC
    cases: list[list[Any]] = [
        [Color.RED, Color.BLUE, Color.RED],
        [1 + 2j, 3j, 1 + 2j],
        [datetime.datetime(2020, 1, 1), datetime.datetime(2020, 1, 1, tzinfo=utc)] * 2,
    ]
    for keys in cases:
        data = [(k, 1) for k in keys]
        got = gm.from_items(data, 2).reduce_by_key(operator.add, 1).collect(config=INLINE)
        assert sorted(got, key=repr) == sorted(Counter(keys).items(), key=repr)
        ordered = gm.from_items(data, 2).sort_by(lambda kv: kv[0], partitions=2)
        assert sorted(ordered.collect(config=INLINE), key=repr) == sorted(data, key=repr)


class Perm(enum.Flag):
    R = 1
    W = 2


def _dict_groups(keys: list[Any]) -> list[int]:
    counts: dict[Any, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    return sorted(counts.values())


def test_keys_group_exactly_as_a_dict_matches_them() -> None:
    from zoneinfo import ZoneInfo

    from gristmill.shuffle.keys import stable_hash

    ny = ZoneInfo("America/New_York")
    early = datetime.datetime(2021, 11, 7, 1, 30, fold=0, tzinfo=ny)
    cases: list[list[Any]] = [
        [early, early.replace(fold=1)] * 3,  # equal (same zone: fold is ignored)
        [np.datetime64("2020-01-01", "D"), np.datetime64("2020-01-01T00:00:00", "us")] * 3,
        [np.datetime64("2020-01-01T00:00", "ns"), 1577836800000000000] * 3,  # not equal
        [np.float64(2**53), 2**53 + 1] * 3,  # not equal (and hashed apart)
        [np.longdouble(1.5), 2.0, np.longdouble(1.5)],
        [datetime.datetime(1, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=5)))],
        [Perm(0), Perm.R, Perm.R | Perm.W, Perm(0)],
        [1, 1 + 0j, decimal.Decimal("0.5"), 0.5 + 0j] * 2,
        [np.datetime64("NaT"), None] * 3,
        [datetime.timedelta(seconds=5), np.timedelta64(5, "s")] * 3,
        [datetime.datetime(2020, 1, 1), np.datetime64("2020-01-01T00:00:00", "us")] * 3,
        # An ambiguous wall time is never equal to another zone's, at the same instant too.
        [early, datetime.datetime(2021, 11, 7, 5, 30, tzinfo=datetime.UTC), early],
    ]
    for keys in cases:
        for a in keys:
            for b in keys:
                if a == b and hash(a) == hash(b):
                    assert stable_hash(a) == stable_hash(b), (a, b)
        data = [(k, 1) for k in keys]
        for cfg in (INLINE, SPILLING[0]):
            for op in ("reduce", "group"):
                ds = gm.from_items(data, 3)
                if op == "reduce":
                    got = ds.reduce_by_key(operator.add, 2).collect(config=cfg)
                else:
                    got = (
                        ds.group_by_key(2).map_values(lambda vs: len(list(vs))).collect(config=cfg)
                    )
                assert sorted(v for _, v in got) == _dict_groups(keys), (keys, op)
