"""How shuffle keys are sorted and merged: their natural order where it is safe, else a total one.

Runs are sorted by the keys' own `<` (fast, in C) only when that is a total order consistent
with `==`: all str, all bytes, all plain numbers without NaN, or tuples / lists whose every
position is one of those. Each run records that shape (its *family*). A reducer merges runs
naturally only if they all share one family; otherwise every run is merged by `order_key`, a
total order over all types that agrees with natural order inside each safe family, so runs
sorted either way merge correctly. Comparing keys that do not form a total order (NaN, sets,
``None``, a numpy int against a ``Decimal``) would silently misplace or split groups.

In that total order all NaN keys are one key (as in Spark SQL), so they group together.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import math
import numbers
import operator
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from gristmill.shuffle.marks import mark_failing

TOTAL = "total"  # the family of a run sorted by `order_key`
UNSORTED = "unsorted"  # a repartition's runs: never merged
EMPTY = "empty"  # no keys: merges with any family
TUPLE_RANK, LIST_RANK = 5, 6  # order_key's type families of the sequences
SET_RANK = 8

Family = Hashable


_PLAIN_NUMBERS = frozenset({int, bool, float})  # exactly: int and float compare exactly


def key_family(keys: list[Any]) -> Family:
    """The shape of `keys` under which their natural order is total, or `TOTAL` if it is not.

    >>> key_family(["b", "a"]), key_family([1, 2.5, True]), key_family([("a", 1), ("b", 2)])
    ('str', 'num', ('tuple', ('str', 'num')))
    >>> key_family([1.0, float("nan")]), key_family([None]), key_family(["a", 1])
    ('total', 'total', 'total')
    """
    types = set(map(type, keys))  # in C: the common case costs one pass
    if types == {str}:
        return "str"
    if not types:
        return EMPTY
    if all(issubclass(t, str) for t in types):
        return "str"
    if all(issubclass(t, bytes) for t in types):
        return "bytes"
    if types <= _PLAIN_NUMBERS:
        # NaN is the one plain number unequal to itself; it breaks every sort it is in. Numpy
        # numbers are not plain: numpy compares a float64 with a large int inexactly, and a
        # float32 equal to a float that hashes apart; one numpy type alone is its own family.
        return "num" if all(map(operator.eq, keys, keys)) else TOTAL
    for kind, base in (("tuple", tuple), ("list", list)):
        if all(issubclass(t, base) for t in types):
            return _sequence_family(kind, keys)
    if len(types) == 1:
        (only,) = types
        if only is type(None) or issubclass(only, (set, frozenset, complex, enum.Enum)):
            return TOTAL  # None < None raises; sets order by subset; complex, Enum: no order
        if issubclass(only, (datetime.datetime, datetime.time)):
            # Naive values compare as they are; aware ones are ordered by their instant (see
            # `_aware_instant`), which their own `<` is not across zones.
            if any(key.utcoffset() is not None for key in keys):
                return TOTAL
            return ("type", only.__module__, only.__qualname__, False)
        if not all(map(operator.eq, keys, keys)):
            return TOTAL  # a NaN of its own kind (Decimal's)
        # Dates, Decimals, user classes: their own order, trusted as Python's sort does (a
        # TypeError while sorting falls back to the total order).
        return ("type", only.__module__, only.__qualname__)
    return TOTAL


def _sequence_family(kind: str, keys: list[Any]) -> Family:
    """Tuples compare position by position: each position must be a safe family of its own."""
    width = max(map(len, keys), default=0)
    positions = []
    for i in range(width):
        column = [key[i] for key in keys if len(key) > i]
        family = key_family(column)
        if family == TOTAL:
            return TOTAL
        positions.append(family)
    return (kind, tuple(positions))


def pairs_family(
    pairs: list[tuple[Any, Any]], value_key: Callable[[Any], Any] | None = None
) -> Family:
    """The family of the pairs' keys (and of their values' sort keys, for a secondary sort)."""
    family = key_family(list(map(first_of_pair, pairs)))
    if value_key is None or family == TOTAL:
        return family
    try:
        values = key_family([value_key(pair[1]) for pair in pairs])
    except Exception as exc:
        mark_failing(exc, value_key, (pair[1] for pair in pairs), "value key")
        raise
    return TOTAL if values == TOTAL else ("by value", family, values)


def sort_verifies(family: Family) -> bool:
    """Whether keys of `family` rely on a type's own `<` (dates, Decimals, user classes),
    which only sorting them shows total (a TypeError falls back to `TOTAL`); the other
    families sort without fail, naturally or by `order_key`.

    >>> sort_verifies("str"), sort_verifies(("tuple", ("str", ("type", "m", "C"))))
    (False, True)
    """
    if not isinstance(family, tuple):
        return False
    if family and family[0] == "type":
        return True
    return any(sort_verifies(part) for part in family)


def merged_total(families: list[Family]) -> bool:
    """Whether runs of these families must be merged by `order_key`."""
    kinds = {family for family in families if family != EMPTY}
    return TOTAL in kinds or len(kinds) > 1


def order_key(key: Any) -> Any:
    """Sort key giving a total order over mixed types (None < numbers < NaN < str < bytes < ...).

    Equal keys get equal sort keys (``1``, ``1.0``, ``numpy.int64(1)`` and ``Decimal(1)`` too),
    and all NaNs tie.

    >>> sorted([3, None, "a", 1.5], key=order_key)
    [None, 1.5, 3, 'a']
    """
    if key is None:
        return (0,)
    kind = type(key)
    if kind is int or kind is bool or kind is float:  # the common case first
        return (2,) if kind is float and math.isnan(key) else (1, key)
    if isinstance(key, str):
        return (3, key)
    if isinstance(key, bytes):
        return (4, key)
    if isinstance(key, tuple):
        return (TUPLE_RANK, tuple(order_key(item) for item in key))
    if isinstance(key, list):  # apart from tuples: [1] != (1,), so they must not interleave
        return (LIST_RANK, tuple(order_key(item) for item in key))
    if isinstance(key, int):  # bool and int subclasses (IntEnum, numpy's bool is not one)
        return (1, int(key))
    if isinstance(key, float):  # numpy's float64: as a float (numpy compares big ints inexactly)
        return (2,) if math.isnan(key) else (1, float(key))
    if kind.__module__ == "numpy" and hasattr(key, "dtype"):
        if key.dtype.kind in "mM":
            return _numpy_time_key(key)
        value = key.item()  # a numpy scalar as the Python value it equals
        if type(value).__module__ != "numpy":  # (longdouble stays numpy: handled below)
            return order_key(value)
    if isinstance(key, numbers.Complex) and not isinstance(key, numbers.Real) and key.imag == 0:
        return order_key(key.real)  # 1 + 0j == 1
    if isinstance(key, (numbers.Real, decimal.Decimal)):
        if is_nan(key):
            return (2,)
        if isinstance(key, numbers.Integral):
            return (1, int(key))
        return (1, key)  # Decimal, Fraction: exact (a float would tie unequal keys)
    if isinstance(key, (set, frozenset)):  # by their sorted members: `<` on sets is subset
        return (SET_RANK, tuple(sorted(map(order_key, key))))
    where = (7, kind.__module__, kind.__qualname__)
    if isinstance(key, numbers.Complex):
        return (*where, float(key.real), float(key.imag))
    if isinstance(key, enum.Enum):  # Flag(0) has no name: its value decides
        return (*where, str(key.name), repr(key.value))
    if isinstance(key, datetime.datetime) and key.utcoffset() is not None:
        return (*where, True, *_aware_instant(key))
    if isinstance(key, (datetime.datetime, datetime.time)):  # naive apart from aware
        return (*where, key.utcoffset() is not None, key)
    return (*where, key)


def instant_micros(key: datetime.datetime) -> int:
    """A datetime's instant in microseconds since 0001-01-01, read at fold 0 as its own hash
    reads it (a naive one as if in UTC); in integers, so the extremes do not overflow."""
    first = key.replace(fold=0)
    offset = first.utcoffset() or datetime.timedelta(0)
    micro = datetime.timedelta(microseconds=1)
    return (first.replace(tzinfo=None) - datetime.datetime(1, 1, 1)) // micro - offset // micro


def _aware_instant(key: datetime.datetime) -> tuple[int, str]:
    """An aware datetime's place in the total order: its instant, and for a wall time that is
    ambiguous or missing in its zone, the zone: Python never equates such a time with another
    zone's (PEP 495), though neither is less."""
    first = key.replace(fold=0)
    shifts = first.replace(fold=1).utcoffset() != first.utcoffset()
    return instant_micros(key), repr(key.tzinfo) if shifts else ""


def _numpy_time_key(key: Any) -> Any:
    """A numpy datetime64/timedelta64 as the datetime/timedelta it stands for, then any rest
    finer than a microsecond; NaT apart; values out of Python's range by numpy's own order.

    A dict's equality is not transitive here (a datetime64 in microseconds equals both the
    datetime and the same instant in nanoseconds, which numpy does not equate with the
    datetime), so no order can follow it everywhere: this one takes every unit as its value.
    """
    import numpy as np

    name = type(key).__qualname__
    if is_nan(key):
        return (7, "numpy", name, True)
    base = "datetime64" if key.dtype.kind == "M" else "timedelta64"
    coarse = key.astype(f"{base}[us]")  # numpy floors to the coarser unit
    value = coarse.item()
    if not isinstance(value, (datetime.datetime, datetime.timedelta)):
        return (7, "numpy", name, False, key)
    rest = int((key - coarse).astype("timedelta64[as]").astype(np.int64))
    return (*order_key(value), rest) if rest else order_key(value)


class TotalKey:
    """A group's key compared by `order_key`, for the reducer's group boundaries in the total
    order: keys are one when their order keys are equal (so all NaNs, nested ones too, are one
    key), and a numpy key's elementwise `!=` against a tuple never runs. Put it first in a
    comparison, so its `!=` decides."""

    __slots__ = ("_order",)

    def __init__(self, key: Any) -> None:
        self._order = order_key(key)

    def __eq__(self, other: object) -> bool:
        return bool(self._order == order_key(other))

    def __ne__(self, other: object) -> bool:
        return bool(self._order != order_key(other))

    __hash__ = None  # type: ignore[assignment]


def is_nan(key: Any) -> bool:
    """Whether `key` is unequal to itself: a NaN of any number type."""
    return bool(key != key)  # noqa: PLR0124 - that is the test


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


def merge_key(
    total: bool, value_key: Callable[[Any], Any] | None = None
) -> Callable[[tuple[Any, Any]], Any]:
    """The key function sorts and reduce-side merges compare pairs with."""
    if value_key is not None:
        return ByKeyThenValue(value_key, total)
    return total_first if total else first_of_pair


def sort_runs(
    buckets: list[list[tuple[Any, Any]]],
    family: Family,
    *,
    reverse: bool = False,
    value_key: Callable[[Any], Any] | None = None,
) -> Family:
    """Stable sort of each bucket of one run by key (then value_key), in place, in the order
    `family` allows; returns the run's family (`TOTAL` if natural order failed after all)."""
    if family != TOTAL:
        try:
            for bucket in buckets:
                bucket.sort(key=merge_key(total=False, value_key=value_key), reverse=reverse)
            return family
        except TypeError:  # a user type whose order is not total after all
            pass
    for bucket in buckets:
        bucket.sort(key=merge_key(total=True, value_key=value_key), reverse=reverse)
    return TOTAL


def sort_pairs(
    pairs: list[tuple[Any, Any]],
    *,
    reverse: bool = False,
    value_key: Callable[[Any], Any] | None = None,
) -> Family:
    """Stable sort of (key, value) pairs by key (then value_key), in place; returns their
    family (`TOTAL`: sorted by `order_key`).

    >>> pairs = [(2.0, "a"), (float("nan"), "b"), (1.0, "c")]
    >>> sort_pairs(pairs), [k for k, _ in pairs]
    ('total', [1.0, 2.0, nan])
    """
    family = pairs_family(pairs, value_key)
    return sort_runs([pairs], family, reverse=reverse, value_key=value_key)
