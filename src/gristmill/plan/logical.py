"""Logical plan nodes: what the user asked for, before stages exist.

A `Dataset` wraps one node; each API call adds one node. Nodes are frozen dataclasses holding
sources, ops and shuffle specs, so plans print, pickle and compare. No engine imports.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gristmill.plan.ops import Op


class Format(enum.Enum):
    """Record formats a file source decodes."""

    TEXT = "text"
    JSONL = "jsonl"
    CSV = "csv"
    BINARY = "binary"  # fixed-width records, read as numpy blocks
    PARQUET = "parquet"  # rows as dicts; a file is one split (not cut by bytes)
    FRAMES = "frames"  # a cached dataset's partitions: run files of pickled record frames


@dataclass(frozen=True)
class FileSource:
    """Files, directories or globs read as `format` records."""

    paths: tuple[str, ...]
    format: Format
    csv_options: tuple[tuple[str, Any], ...] = ()
    record_size: int = 0  # binary: bytes per record


@dataclass(frozen=True)
class ItemsSource:
    """In-memory items, already cut into partitions (each a tuple of records)."""

    partitions: tuple[tuple[Any, ...], ...]

    @classmethod
    def cut(cls, items: Sequence[Any], partitions: int) -> ItemsSource:
        """`items` in `partitions` contiguous partitions of equal size (the last smaller).

        >>> ItemsSource.cut([1, 2, 3], 2).partitions
        ((1, 2), (3,))
        """
        size = math.ceil(len(items) / partitions) if items else 0
        return cls(tuple(tuple(items[i * size : (i + 1) * size]) for i in range(partitions)))


class ShuffleKind(enum.Enum):
    """What a shuffle does with records, which fixes map-side and reduce-side behaviour."""

    AGGREGATE = "aggregate"  # (k, v) pairs combined per key with an Aggregator
    COUNT = "count"  # bare values counted: (value, count)
    GROUP = "group"  # (k, v) pairs grouped: (k, values streamed)
    SORT = "sort"  # any records, range-partitioned and sorted by sort_key(record)
    REPARTITION = "repartition"  # any records, spread round-robin, order kept per map task


@dataclass(frozen=True)
class Aggregator:
    """The combine contract: ``create(v)``, ``add(acc, v)``, ``merge(acc, acc)``.

    `create` None means the value itself is the accumulator (reduce_by_key), which saves a call
    per record on the hot path.
    """

    add: Callable[[Any, Any], Any]
    merge: Callable[[Any, Any], Any]
    create: Callable[[Any], Any] | None = None


@dataclass(frozen=True)
class ShuffleSpec:
    """A wide operation; `partitions` None means the planner picks a deterministic default."""

    kind: ShuffleKind
    partitions: int | None = None
    aggregator: Aggregator | None = None
    sort_key: Callable[[Any], Any] | None = None
    ascending: bool = True
    value_key: Callable[[Any], Any] | None = None  # group: secondary sort of each key's values


@dataclass(frozen=True, eq=False)
class Node:
    """Base of logical nodes; identity equality keeps shared sub-plans shared."""


@dataclass(frozen=True, eq=False)
class Source(Node):
    source: FileSource | ItemsSource


@dataclass(frozen=True, eq=False)
class Narrow(Node):
    parent: Node
    op: Op


@dataclass(frozen=True, eq=False)
class Union(Node):
    parents: tuple[Node, ...] = field(default=())


@dataclass(frozen=True, eq=False)
class Shuffle(Node):
    parent: Node
    spec: ShuffleSpec


@dataclass(frozen=True, eq=False)
class Join(Node):
    """A join of two pair datasets; `plan.joins` lowers it to a shuffle or a broadcast join.

    `broadcast` True: the right side is computed first and held in memory by every task;
    False: both sides shuffle (a sort-merge join); None: broadcast when the right side is
    small and the join's output order cannot show (an aggregation follows it).
    """

    left: Node
    right: Node
    partitions: int | None = None
    keep_unmatched_left: bool = False
    broadcast: bool | None = None


@dataclass(frozen=True, eq=False)
class Cached(Node):
    """`parent`, computed once by the first job that needs it and read back by later ones
    (`api.cache`); `token` names it in this process."""

    parent: Node
    token: int


def describe(node: Node, indent: int = 0) -> list[str]:
    """The logical plan as indented lines, root first."""
    pad = "  " * indent
    if isinstance(node, Source):
        src = node.source
        if isinstance(src, FileSource):
            line = f"{pad}Read{src.format.value.title()}({', '.join(src.paths)})"
        else:
            line = f"{pad}FromItems(partitions={len(src.partitions)})"
        return [line]
    if isinstance(node, Narrow):
        return [f"{pad}{node.op.describe()}", *describe(node.parent, indent + 1)]
    if isinstance(node, Cached):
        return [f"{pad}Cache(#{node.token})", *describe(node.parent, indent + 1)]
    if isinstance(node, Union):
        lines = [f"{pad}Union"]
        for parent in node.parents:
            lines += describe(parent, indent + 1)
        return lines
    if isinstance(node, Shuffle):
        spec = node.spec
        parts = spec.partitions if spec.partitions is not None else "auto"
        return [
            f"{pad}Shuffle[{spec.kind.value}](partitions={parts})",
            *describe(node.parent, indent + 1),
        ]
    if isinstance(node, Join):
        how = {True: "broadcast", False: "shuffle", None: "auto"}[node.broadcast]
        name = "LeftJoin" if node.keep_unmatched_left else "Join"
        return [
            f"{pad}{name}[{how}]",
            *describe(node.left, indent + 1),
            *describe(node.right, indent + 1),
        ]
    raise TypeError(f"unknown plan node {node!r}")
