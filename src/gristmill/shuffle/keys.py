"""Key hashing and ordering that agree across processes, runs and machines.

Python's `hash()` is salted per process for str and bytes, so partitioning uses `stable_hash`
instead; equal keys hash equally (1 == 1.0 == True == numpy.int64(1), 0.0 == -0.0, and all
NaNs, which `shuffle.order` treats as one key). How keys are ordered is `shuffle.order`.
"""

from __future__ import annotations

import datetime
import enum
import math
import numbers
import zlib
from collections.abc import Iterable
from typing import Any

from gristmill.shuffle.order import instant_micros, is_nan

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
    if isinstance(key, (frozenset, set)):  # hash() of a frozenset mixes members' salted hashes
        # A set has no hash() but sorts and groups (as the frozenset it equals) where keys
        # are not folded in a hash table.
        acc = 0x1F3D5B79
        for item in key:  # XOR: the same whatever order the set iterates in
            acc ^= (stable_hash(item) * 0x9E3779B97F4A7C15) & _MASK
        return acc
    if isinstance(key, numbers.Number) and is_nan(key):
        return 0x7FC00000  # a numpy or Decimal NaN: hash() of a NaN differs per object
    if type(key).__module__ == "numpy" and hasattr(key, "dtype"):
        if key.dtype.kind in "mM":  # equal across units, and to the datetime it stands for
            unit = "datetime64[us]" if key.dtype.kind == "M" else "timedelta64[us]"
            return stable_hash(key.astype(unit).item())
        value = key.item()  # a numpy scalar as the Python value it equals
        if type(value).__module__ != "numpy":  # (longdouble stays numpy: its hash() is fine)
            return stable_hash(value)
    # hash() of dates, times and Enum members mixes salted str or bytes hashes.
    if isinstance(key, datetime.datetime):  # by its instant, as datetime's own hash
        return stable_hash(("datetime", instant_micros(key)))
    if isinstance(key, datetime.date):
        return stable_hash(key.toordinal())
    if isinstance(key, datetime.timedelta):
        return stable_hash((key.days, key.seconds, key.microseconds))
    if isinstance(key, datetime.time) and key.utcoffset() is None:
        return stable_hash((key.hour, key.minute, key.second, key.microsecond))
    if isinstance(key, enum.Enum):
        return stable_hash((type(key).__qualname__, key.name))
    # Decimals, Fractions and frozen dataclasses of numbers hash deterministically; a custom
    # type whose __hash__ uses str fields is only consistent within one run (documented).
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
