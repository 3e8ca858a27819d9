"""Key hashing and ordering that agree across processes, runs and machines.

Python's `hash()` is salted per process for str and bytes, so partitioning uses `stable_hash`
instead; equal keys hash equally (1 == 1.0 == True, 0.0 == -0.0). `order_key` gives a total
order over mixed key types that agrees with natural order within one type, so runs sorted
naturally and runs sorted with the fallback can still be merged.
"""

from __future__ import annotations

import math
import operator
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

_MASK = (1 << 64) - 1


def stable_hash(key: Any) -> int:
    """A non-negative hash of `key` that is the same in every process.

    >>> stable_hash("word") == stable_hash("word")
    True
    >>> stable_hash(1) == stable_hash(1.0) == stable_hash(True)
    True
    """
    if type(key) is str:  # the hot path: most keys are exact str
        return zlib.crc32(key.encode("utf-8", "surrogatepass"))
    if isinstance(key, str):
        return zlib.crc32(key.encode("utf-8", "surrogatepass"))
    if isinstance(key, int):  # bool included; int hashing is not salted
        return hash(int(key)) & _MASK
    if isinstance(key, float):
        return 0x7FC00000 if math.isnan(key) else hash(float(key)) & _MASK
    if isinstance(key, (tuple, list)):
        acc = 0x345678
        for item in key:
            acc = ((acc * 1000003) ^ stable_hash(item)) & _MASK
        return acc ^ len(key)
    if key is None:
        return 0x9E3779B9
    if isinstance(key, bytes):
        return zlib.crc32(key)
    # Dates, decimals and frozen dataclasses of numbers hash deterministically; a custom type
    # whose __hash__ uses str fields is only consistent within one run (documented).
    return hash(key) & _MASK


def bucket_pairs(pairs: Iterable[tuple[Any, Any]], num_partitions: int) -> list[list[Any]]:
    """`pairs` split by the hash partition of their keys, keeping their order.

    A key's partition is ``stable_hash(key) % num_partitions``, the str hash inlined: this
    runs once per distinct key of every map task, so a Python call less per pair shows.

    >>> bucket_pairs([("a", 1), ("b", 2), ("a", 3)], 1)
    [[('a', 1), ('b', 2), ('a', 3)]]
    """
    buckets: list[list[Any]] = [[] for _ in range(num_partitions)]
    crc32 = zlib.crc32
    for pair in pairs:
        key = pair[0]
        h = crc32(key.encode("utf-8", "surrogatepass")) if type(key) is str else stable_hash(key)
        buckets[h % num_partitions].append(pair)
    return buckets


TUPLE_RANK, LIST_RANK = 5, 6  # order_key's type families of the sequences


def order_key(key: Any) -> Any:
    """Sort key giving a total order over mixed types (None < numbers < NaN < str < bytes < ...).

    >>> sorted([3, None, "a", 1.5], key=order_key)
    [None, 1.5, 3, 'a']
    """
    if key is None:
        return (0,)
    if isinstance(key, (bool, int, float)):
        return (2,) if isinstance(key, float) and math.isnan(key) else (1, key)
    if isinstance(key, str):
        return (3, key)
    if isinstance(key, bytes):
        return (4, key)
    if isinstance(key, tuple):
        return (TUPLE_RANK, tuple(order_key(item) for item in key))
    if isinstance(key, list):  # apart from tuples: [1] != (1,), so they must not interleave
        return (LIST_RANK, tuple(order_key(item) for item in key))
    return (7, type(key).__qualname__, key)


# A pair's key, in C: sorts and merges call it once per pair (a Python function cost ~5% of a
# high-cardinality job).
first_of_pair: Callable[[tuple[Any, Any]], Any] = operator.itemgetter(0)


def total_first(pair: tuple[Any, Any]) -> Any:
    return order_key(pair[0])


@dataclass(frozen=True)
class ByKeyThenValue:
    """Pair order for a secondary sort: key, then `value_key(value)`."""

    value_key: Callable[[Any], Any]
    total: bool

    def __call__(self, pair: tuple[Any, Any]) -> Any:
        if self.total:
            return order_key(pair[0]), order_key(self.value_key(pair[1]))
        return pair[0], self.value_key(pair[1])


def sort_pairs(
    pairs: list[tuple[Any, Any]],
    *,
    reverse: bool = False,
    value_key: Callable[[Any], Any] | None = None,
) -> bool:
    """Stable sort of (key, value) pairs by key (then value_key), in place.

    Returns True if mixed types forced the fallback total order.
    """
    try:
        pairs.sort(key=merge_key(total=False, value_key=value_key), reverse=reverse)
        return False
    except TypeError:
        pairs.sort(key=merge_key(total=True, value_key=value_key), reverse=reverse)
        return True


def type_rank(key: Any) -> Any:
    """The part of `order_key` that says which type family a key is in."""
    if isinstance(key, (tuple, list)):
        rank = TUPLE_RANK if isinstance(key, tuple) else LIST_RANK
        return (rank, tuple(type_rank(item) for item in key))
    return order_key(key)[:1]


def merge_key(
    total: bool, value_key: Callable[[Any], Any] | None = None
) -> Callable[[tuple[Any, Any]], Any]:
    """The key function sorts and reduce-side merges compare pairs with."""
    if value_key is not None:
        return ByKeyThenValue(value_key, total)
    return total_first if total else first_of_pair
