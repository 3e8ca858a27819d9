"""Narrow operations: the frozen data a pipeline carries; `runtime.pipeline` interprets them.

Each op is one record-wise (or partition-wise) transformation. Ops hold user callables, so a
plan pickles with cloudpickle. Must not import `runtime` or `api`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
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
