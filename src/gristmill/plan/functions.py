"""Small picklable callables that compose the keyed API from the core ops.

Named classes instead of lambdas so plans print readably and pickle by reference. Pure
functions only; no engine imports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class KeyBy:
    """``x -> (fn(x), x)``."""

    fn: Callable[[Any], Any]

    def __call__(self, record: Any) -> tuple[Any, Any]:
        return self.fn(record), record


@dataclass(frozen=True)
class MapValues:
    """``(k, v) -> (k, fn(v))``."""

    fn: Callable[[Any], Any]

    def __call__(self, pair: tuple[Any, Any]) -> tuple[Any, Any]:
        key, value = pair
        return key, self.fn(value)


@dataclass(frozen=True)
class FlatMapValues:
    """``(k, v) -> [(k, w) for w in fn(v)]``."""

    fn: Callable[[Any], Iterable[Any]]

    def __call__(self, pair: tuple[Any, Any]) -> Iterator[tuple[Any, Any]]:
        key, value = pair
        return ((key, out) for out in self.fn(value))


@dataclass(frozen=True)
class Tag:
    """``(k, v) -> (k, (tag, v))``: marks which side of a join a value came from."""

    tag: int

    def __call__(self, pair: tuple[Any, Any]) -> tuple[Any, tuple[int, Any]]:
        key, value = pair
        return key, (self.tag, value)


@dataclass(frozen=True)
class JoinGroups:
    """Expand one key's tagged values into joined pairs.

    The shuffle delivers all left (tag 0) values of a key before its right (tag 1) values,
    because left map tasks precede right ones and merges are stable; so only the left side of
    one key is buffered while the right side streams.
    """

    keep_unmatched_left: bool

    def __call__(self, group: tuple[Any, Iterable[tuple[int, Any]]]) -> Iterator[Any]:
        key, values = group
        left: list[Any] = []
        matched = False
        for tag, value in values:
            if tag == 0:
                left.append(value)
                continue
            matched = True
            for lv in left:
                yield key, (lv, value)
        if self.keep_unmatched_left and not matched:
            for lv in left:
                yield key, (lv, None)


def pair_with_none(record: Any) -> tuple[Any, None]:
    """``x -> (x, None)``, used by `distinct`."""
    return record, None


def identity(value: Any) -> Any:
    """``x -> x``: the natural order, as a sort key."""
    return value


def first(pair: tuple[Any, Any]) -> Any:
    """``(k, v) -> k``."""
    return pair[0]


def keep_first(a: Any, _b: Any) -> Any:
    """Reducer that keeps the first value seen; used by `distinct`."""
    return a


@dataclass(frozen=True)
class PrefixKey:
    """``record -> record[:size]``: sort fixed-width binary records by their leading bytes.

    The engine recognises this key: blocks of binary records are then sorted columnar (numpy)
    instead of one Python object per record. On any other record it is a plain slice.

    >>> PrefixKey(2)(b"abc")
    b'ab'
    """

    size: int

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"key prefix must be at least 1 byte, got {self.size}")

    def __call__(self, record: Any) -> Any:
        return record[: self.size]
