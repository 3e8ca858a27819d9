"""Narrow operations: the frozen data a pipeline carries; `runtime.pipeline` interprets them.

Each op is one record-wise (or partition-wise) transformation. Ops hold user callables, so a
plan pickles with cloudpickle. Must not import `runtime` or `api`.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any


class OpKind(enum.Enum):
    """How an op transforms records: one to one, one to many, keep or drop, or a whole stream."""

    MAP = "map"
    FLAT_MAP = "flat_map"
    FILTER = "filter"
    MAP_PARTITIONS = "map_partitions"
    MAP_BATCHES = "map_batches"  # a whole batch in, a batch out (columnar work)


@dataclass(frozen=True)
class Op:
    """One narrow operation; `name` is what `explain()` shows (e.g. ``map_values``)."""

    kind: OpKind
    fn: Callable[..., Any]
    name: str

    def describe(self) -> str:
        label = getattr(self.fn, "__qualname__", type(self.fn).__name__)
        return f"{self.name}({label})"


# Runs one call of user code for one input record and returns the call's output records.
Each = Callable[..., Iterable[Any]]


def stream_each(fn: Callable[..., Iterable[Any] | None], *args: Any) -> Iterable[Any]:
    """`fn(*args)`, its output left streaming (``None``, as a function that yields nothing
    may return, is no output).

    >>> list(stream_each(str.split, "a b")), list(stream_each(dict.get, {}, "key"))
    (['a', 'b'], [])
    """
    out = fn(*args)
    return () if out is None else out


class PerRecord(abc.ABC):
    """A `map_partitions` function that calls user code once per input record (a
    MapReduceJob's mapper over lines, its reducer over groups).

    It makes each such call through `each`. Run as a plain partition function, `each` only
    streams the call's output; skip mode passes an `each` that leaves out (and quarantines)
    the record whose call raises, as it does for record-wise ops. Any other partition
    function is opaque: the engine cannot tell which record it failed on.
    """

    @abc.abstractmethod
    def run(self, records: Iterator[Any], each: Each) -> Iterator[Any]:
        """The output of the partition `records`, user calls made through `each`."""

    def __call__(self, records: Iterator[Any]) -> Iterator[Any]:
        return self.run(records, stream_each)
