"""Small picklable callables that compose the keyed API from the core ops.

Named classes instead of lambdas so plans print readably and pickle by reference. Pure
functions only; no engine imports.
"""

from __future__ import annotations

import functools
import os
import pickle
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from gristmill.shuffle.order import is_nan


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
        # Unpacking alone would take a 2-character str apart, or fail saying nothing of the
        # join; a tuple, the usual record, is only unpacked.
        if type(pair) is tuple or (isinstance(pair, (tuple, list)) and len(pair) == 2):
            try:
                key, value = pair
            except ValueError:
                raise self._refused(pair) from None
            return key, (self.tag, value)
        raise self._refused(pair)

    def _refused(self, pair: Any) -> TypeError:
        side = "left" if self.tag == 0 else "right"
        return TypeError(
            f"join expects (key, value) pairs; its {side} side gave "
            f"{type(pair).__name__}: {pair!r:.200}"
        )


@dataclass(frozen=True)
class JoinGroups:
    """Expand one key's tagged values into joined pairs.

    The shuffle delivers all left (tag 0) values of a key before its right (tag 1) values,
    because left map tasks precede right ones and merges are stable; so only the left side of
    one key is kept while the right side streams, and a left side too large for memory
    spills to a temporary file that is replayed for each right value.
    """

    keep_unmatched_left: bool

    def __call__(self, group: tuple[Any, Iterable[tuple[int, Any]]]) -> Iterator[Any]:
        key, values = group
        with SpillableList() as left:
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


@dataclass(frozen=True, eq=False)
class BroadcastJoin:
    """``(k, v) -> (k, (v, w))`` for each right value ``w`` of ``k``, from an in-memory table.

    The right side of a broadcast join, collected once and shipped to every task (as Spark's
    broadcast hash join), so the left side is never shuffled. A key that cannot be hashed is
    compared with ``==`` against every right key, which is what the merge join would do.

    >>> join = BroadcastJoin({"a": (1, 2)}, keep_unmatched_left=True)
    >>> list(join(("a", "x"))), list(join(("b", "y")))
    ([('a', ('x', 1)), ('a', ('x', 2))], [('b', ('y', None))])
    """

    table: dict[Any, tuple[Any, ...]]
    keep_unmatched_left: bool

    @functools.cached_property
    def _nan_matches(self) -> tuple[Any, ...]:
        """The values of the right side's NaN key (`build_table` keeps them in one entry)."""
        return next((ws for k, ws in self.table.items() if is_nan(k)), ())

    def __call__(self, pair: tuple[Any, Any]) -> Iterable[tuple[Any, Any]]:
        key, value = pair
        try:
            matches = self.table.get(key, ())
        except TypeError:  # unhashable: no dict lookup, but == may still match a right key
            matches = tuple(w for k, ws in self.table.items() if k == key for w in ws)
        if not matches and is_nan(key):  # all NaNs are one key, as in the shuffle join
            matches = self._nan_matches
        if matches:
            if len(matches) == 1:  # a dimension table's unique key: a tuple, no comprehension
                return ((key, (value, matches[0])),)
            return [(key, (value, w)) for w in matches]
        return [(key, (value, None))] if self.keep_unmatched_left else ()


class SpillableList:
    """An append-then-iterate list that keeps `limit` items in memory and pickles the rest.

    Spilled items go in batches to an anonymous temporary file (in the job's scratch directory
    while a task runs); iterating replays memory then file, as often as needed.

    >>> with SpillableList(limit=2, batch=2) as items:
    ...     for i in range(5):
    ...         items.append(i)
    ...     list(items), list(items)
    ([0, 1, 2, 3, 4], [0, 1, 2, 3, 4])
    """

    def __init__(self, limit: int = 50_000, batch: int = 4096) -> None:
        self._memory: list[Any] = []
        self._pending: list[Any] = []
        self._limit, self._batch = limit, batch
        self._file: IO[bytes] | None = None

    def append(self, item: Any) -> None:
        if len(self._memory) < self._limit:
            self._memory.append(item)
            return
        self._pending.append(item)
        if len(self._pending) >= self._batch:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed in __exit__
        self._file.seek(0, os.SEEK_END)
        pickle.dump(self._pending, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self._pending = []

    def __iter__(self) -> Iterator[Any]:
        yield from self._memory
        if self._file is None:
            yield from self._pending
            return
        self._flush()
        self._file.seek(0)
        while True:
            try:
                batch = pickle.load(self._file)
            except EOFError:
                return
            yield from batch

    def __enter__(self) -> SpillableList:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()


def pair_with_none(record: Any) -> tuple[Any, None]:
    """``x -> (x, None)``, used by `distinct`."""
    return record, None


def identity(value: Any) -> Any:
    """``x -> x``: the natural order, as a sort key."""
    return value


def first(pair: tuple[Any, Any]) -> Any:
    """``(k, v) -> k``."""
    return pair[0]


def second(pair: tuple[Any, Any]) -> Any:
    """``(k, v) -> v``."""
    return pair[1]


@dataclass(frozen=True)
class PartialReduce:
    """One partition's records folded with `fn` into one (none for an empty partition)."""

    fn: Callable[[Any, Any], Any]

    def __call__(self, records: Iterable[Any]) -> Iterator[Any]:
        it = iter(records)
        for start in it:  # the first record, if any
            yield functools.reduce(self.fn, it, start)


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
