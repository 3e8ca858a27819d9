"""stable_hash agrees across processes with different hash seeds; order_key totals mixed types."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys

from gristmill.shuffle.keys import stable_hash
from gristmill.shuffle.order import order_key

KEYS = [
    "word",
    ("a", 1, None),
    b"raw",
    12345678901234567890,
    2.5,
    None,
    ("x", ("y", "z")),
    frozenset({"a", "b", "c"}),  # hash() of a frozenset mixes salted str hashes
    datetime.date(2020, 1, 2),  # hash() of dates and times is salted too
    datetime.datetime(2020, 1, 2, 3, 4, 5, 6),
    datetime.timedelta(days=1, seconds=2),
]


def test_same_hash_in_a_process_with_another_hash_seed() -> None:
    code = "from gristmill.shuffle.keys import stable_hash; import datetime\n" + (
        f"print([stable_hash(k) for k in {KEYS!r}])"
    )
    for seed in ("1", "987"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == str([stable_hash(k) for k in KEYS])


def test_a_set_hashes_as_the_frozenset_it_equals() -> None:
    assert stable_hash({"a", 1, None}) == stable_hash(frozenset({None, 1, "a"}))


def test_equal_keys_hash_equal() -> None:
    assert stable_hash(1) == stable_hash(1.0) == stable_hash(True)  # noqa: FBT003
    assert stable_hash(0.0) == stable_hash(-0.0) == stable_hash(0)
    assert stable_hash((1, "a")) == stable_hash((1.0, "a"))
    assert stable_hash(float("nan")) == stable_hash(float("nan"))


def test_order_key_is_total_and_agrees_with_natural_order() -> None:
    mixed = ["b", None, 3, 1.5, ("a", 2), b"x", "a", float("nan"), ("a", None)]
    ordered = sorted(mixed, key=order_key)
    assert ordered[0] is None and ordered[1:3] == [1.5, 3]
    words = ["pear", "apple", "fig"]
    assert sorted(words, key=order_key) == sorted(words)


def test_lists_and_tuples_are_apart_in_the_total_order() -> None:
    # [1] != (1,): if they tied, a merge could interleave them and split a key's group.
    keys = [[1], (1,), [1], (1,)]
    ordered = sorted(keys, key=order_key)
    assert ordered == [(1,), (1,), [1], [1]]


def test_groups_of_list_and_tuple_keys_stay_whole() -> None:
    import gristmill as gm

    cfg = gm.Config(executor="inline", progress=False)
    data = [([1], "a"), ((1,), "b"), ([1], "c"), ((1,), "d")] * 3
    ds = gm.from_items(data, partitions=4)  # each run holds one type; the merge mixes them
    got = ds.group_by_key(1).map_values(sorted).collect(config=cfg)
    assert got == [((1,), ["b", "b", "b", "d", "d", "d"]), ([1], ["a", "a", "a", "c", "c", "c"])]
