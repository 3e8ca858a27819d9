"""Joins become a shuffle (sort-merge) join or a broadcast hash join before planning.

A sort-merge join shuffles both sides. When the right side is small, Spark's broadcast hash
join is far cheaper: the right side is computed first (a job of its own), held in memory as a
hash table by every task, and the left side is joined where it is read, never shuffled.

A join broadcasts when asked (``broadcast=True``), or on its own (``broadcast=None``) when
its right side's inputs total at most the threshold (``Config.broadcast_threshold``, 10MB as
Spark's ``autoBroadcastJoinThreshold``), its table fits a quarter of a worker's memory budget,
and the join's output order cannot show: on every path to the output, record-wise ops lead
to an aggregation (``reduce_by_key``, ``combine_by_key``, ``count_by_value``). A shuffle
join's output is grouped by key, a broadcast join's follows its left input; a group's values,
a sort's ties, a repartition or a partition-wise function would see the difference, and a
join given ``partitions=`` keeps its shuffle. Must not import `runtime`.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from typing import Any

import cloudpickle

from gristmill.errors import UsageError
from gristmill.io.fs import list_inputs
from gristmill.plan import functions as fns
from gristmill.plan.logical import (
    FileSource,
    ItemsSource,
    Join,
    Narrow,
    Node,
    Shuffle,
    ShuffleKind,
    ShuffleSpec,
    Source,
    Union,
)
from gristmill.plan.ops import Op, OpKind
from gristmill.shuffle.order import is_nan
from gristmill.shuffle.sizing import deep_size

# Runs a right side as its own job and returns its records; `small` says it is within the
# threshold (the caller may then run it in-process). None: do not run anything (explain).
Collect = Callable[[Node, bool], list[Any]]

ITEMS_SAMPLE = 64  # items pickled to estimate the size of an in-memory source
FALLBACK_ITEMS = 65_536  # records per partition of a collected side that shuffles after all
# Kinds of shuffle that fold a key's records whatever their order (given the documented
# associative, commutative function), so the order of a join before them cannot show.
ORDER_BLIND = (ShuffleKind.AGGREGATE, ShuffleKind.COUNT)
ORDER_BLIND_OPS = (OpKind.MAP, OpKind.FLAT_MAP, OpKind.FILTER)  # record by record


@dataclasses.dataclass(frozen=True)
class JoinSettings:
    """What decides a join's form: the auto threshold, the table budget, skip mode."""

    threshold: int  # bytes of right-side input; 0: never broadcast on its own
    table_limit: int  # bytes of Python objects a broadcast table may take on its own
    skip_bad_records: bool = False


def lower_joins(
    root: Node,
    settings: JoinSettings,
    collect: Collect | None,
    pending: list[Node] | None = None,
) -> Node:
    """`root` with every `Join` replaced by core nodes; broadcast sides run through `collect`.

    Without `collect`, a broadcast join shows as ``broadcast_join[pending]`` (for explain),
    and its side, not run, is appended to `pending`.
    """
    if not _has_join(root, set()):
        return root
    return _Lowering(settings, collect, _hidden_order(root), pending).lower(root)


def _has_join(node: Node, seen: set[int]) -> bool:
    if id(node) in seen:
        return False
    seen.add(id(node))
    if isinstance(node, Join):
        return True
    return any(_has_join(parent, seen) for parent in _parents(node))


def _parents(node: Node) -> tuple[Node, ...]:
    if isinstance(node, (Narrow, Shuffle)):
        return (node.parent,)
    if isinstance(node, Union):
        return node.parents
    if isinstance(node, Join):
        return (node.left, node.right)
    return ()


def _hidden_order(root: Node) -> set[int]:
    """Ids of the joins whose output order an aggregation hides on every path from `root`."""
    hidden: dict[int, bool] = {}
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, below = stack.pop()
        before = hidden.get(id(node))
        now = below if before is None else before and below
        if before is not None and now == before:
            continue  # nothing new to pass down
        hidden[id(node)] = now
        if isinstance(node, Shuffle):
            stack.append((node.parent, node.spec.kind in ORDER_BLIND))
        elif isinstance(node, Narrow):
            stack.append((node.parent, now and node.op.kind in ORDER_BLIND_OPS))
        elif isinstance(node, Join):
            # Both sides' orders reach the join's output: the left's as the output's order,
            # the right's as the order of a key's matches (a table's values, a group's).
            stack.append((node.left, now))
            stack.append((node.right, now))
        else:
            stack.extend((parent, now) for parent in _parents(node))
    return {key for key, value in hidden.items() if value}


@dataclasses.dataclass
class _Lowering:
    settings: JoinSettings
    collect: Collect | None
    hidden: set[int]
    pending: list[Node] | None = None
    memo: dict[int, Node] = dataclasses.field(default_factory=dict)
    collected: dict[int, list[Any]] = dataclasses.field(default_factory=dict)

    def lower(self, node: Node) -> Node:
        done = self.memo.get(id(node))
        if done is None:
            done = self.memo[id(node)] = self._lower(node)
        return done

    def _lower(self, node: Node) -> Node:
        if isinstance(node, Source):
            return node
        if isinstance(node, Narrow):
            parent = self.lower(node.parent)
            return node if parent is node.parent else Narrow(parent, node.op)
        if isinstance(node, Shuffle):
            parent = self.lower(node.parent)
            return node if parent is node.parent else Shuffle(parent, node.spec)
        if isinstance(node, Union):
            parents = tuple(self.lower(p) for p in node.parents)
            same = all(a is b for a, b in zip(parents, node.parents, strict=True))
            return node if same else Union(parents)
        if isinstance(node, Join):
            return self._join(node)
        raise TypeError(f"unknown plan node {node!r}")

    def _join(self, join: Join) -> Node:
        left, right = self.lower(join.left), self.lower(join.right)
        if join.broadcast is True and self.settings.skip_bad_records:
            raise UsageError(
                "broadcast=True cannot run in skip mode yet: the broadcast side's bad records "
                "would not reach the quarantine; leave broadcast unset or False"
            )
        if not self._may_broadcast(join):
            return shuffle_join(left, right, join)
        small = self.settings.threshold > 0 and input_bytes(join.right) <= self.settings.threshold
        if join.broadcast is None and not small:
            return shuffle_join(left, right, join)
        name = "broadcast_left_join" if join.keep_unmatched_left else "broadcast_join"
        if self.collect is None:
            if self.pending is not None and all(right is not p for p in self.pending):
                self.pending.append(right)
            fn = fns.BroadcastJoin({}, join.keep_unmatched_left)
            return Narrow(left, Op(OpKind.FLAT_MAP, fn, f"{name}[pending]"))
        records = self.collected.get(id(right))
        if records is None:  # a side used by two joins runs once
            records = self.collected[id(right)] = self.collect(right, small)
        try:
            table = build_table(records)
        except TypeError as exc:
            if join.broadcast is None:  # chosen on our own: the merge join takes any key
                return shuffle_join(left, _as_items(records), join)
            raise UsageError(f"broadcast join: {exc}") from exc
        if join.broadcast is None and table_bytes(table) > self.settings.table_limit:
            return shuffle_join(left, _as_items(records), join)
        fn = fns.BroadcastJoin(table, join.keep_unmatched_left)
        return Narrow(left, Op(OpKind.FLAT_MAP, fn, f"{name}[{len(table)} keys]"))

    def _may_broadcast(self, join: Join) -> bool:
        if join.broadcast is not None:
            return join.broadcast
        return (
            id(join) in self.hidden
            and join.partitions is None  # the caller sized the join's shuffle: keep it
            and not self.settings.skip_bad_records  # the side job would not quarantine
        )


def _as_items(records: list[Any]) -> Node:
    """A collected right side as in-memory partitions, for a shuffle join after all."""
    return Source(ItemsSource.cut(records, max(1, math.ceil(len(records) / FALLBACK_ITEMS))))


def table_bytes(table: dict[Any, tuple[Any, ...]]) -> int:
    """An estimate of the Python memory a broadcast table holds (sampled, as the spill's)."""
    return deep_size(table, depth=4)


def shuffle_join(left: Node, right: Node, join: Join) -> Node:
    """Both sides tagged, grouped by key in one shuffle, and expanded per key."""
    tagged = Union(
        (
            Narrow(left, Op(OpKind.MAP, fns.Tag(0), "tag_left")),
            Narrow(right, Op(OpKind.MAP, fns.Tag(1), "tag_right")),
        )
    )
    grouped = Shuffle(tagged, ShuffleSpec(ShuffleKind.GROUP, join.partitions))
    name = "left_join" if join.keep_unmatched_left else "join"
    return Narrow(grouped, Op(OpKind.FLAT_MAP, fns.JoinGroups(join.keep_unmatched_left), name))


def build_table(records: list[Any]) -> dict[Any, tuple[Any, ...]]:
    """Right-side pairs as ``key -> values`` in their order; TypeError for an unhashable key.

    >>> build_table([("a", 1), ("b", 2), ("a", 3)])
    {'a': (1, 3), 'b': (2,)}
    """
    table: dict[Any, list[Any]] = {}
    nan_key: Any = None
    for record in records:
        if not (isinstance(record, (tuple, list)) and len(record) == 2):
            raise UsageError(
                f"a join's right side must hold (key, value) pairs; got {record!r:.200}"
            )
        key, value = record
        if is_nan(key):  # all NaNs are one key (shuffle.order): their values in one entry
            nan_key = key if nan_key is None else nan_key
            key = nan_key
        try:
            table.setdefault(key, []).append(value)
        except TypeError:
            raise TypeError(
                f"right-side key {key!r:.200} of type {type(key).__name__} cannot be hashed"
            ) from None
    return {key: tuple(values) for key, values in table.items()}


def input_bytes(node: Node) -> int:
    """The bytes of the inputs under `node`: file sizes, or in-memory items' pickled size."""
    total = 0
    seen: set[int] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, Source):
            total += _source_bytes(current)
        stack.extend(_parents(current))
    return total


def _source_bytes(node: Source) -> int:
    src = node.source
    if isinstance(src, FileSource):
        return sum(f.size for f in list_inputs(src.paths))
    count = sum(map(len, src.partitions))
    if not count:
        return 0
    sample = list(itertools.islice(itertools.chain.from_iterable(src.partitions), ITEMS_SAMPLE))
    try:
        per_item = len(cloudpickle.dumps(sample)) / len(sample)
    except Exception:
        return count * 1024  # cannot tell: a large guess keeps big sides shuffled
    return int(per_item * count)
