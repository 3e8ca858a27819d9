"""The lazy `Dataset`: each method adds one plan node; actions run the plan.

Keyed methods are composed from a few primitives (map, union, shuffle); nothing here knows
how stages run. `runtime` is reached only through `api.execute`.
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
import itertools
import operator
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

from gristmill.config import Config, as_int
from gristmill.errors import UsageError
from gristmill.io.columnar import ArrowBatches
from gristmill.plan import functions as fns
from gristmill.plan.logical import (
    Aggregator,
    Cached,
    Join,
    Narrow,
    Node,
    Shuffle,
    ShuffleKind,
    ShuffleSpec,
    Union,
    describe,
)
from gristmill.plan.ops import Op, OpKind
from gristmill.plan.sinks import Sink, SinkKind
from gristmill.runtime.result import JobResult

BatchFormat = Literal["default", "pyarrow"]


def check_partitions(partitions: int | None) -> int | None:
    if partitions is None:
        return None
    count = as_int(partitions, "partitions")
    if count < 1:
        raise UsageError(f"partitions must be at least 1, got {partitions!r}")
    return count


def _check_count(action: str, n: object) -> int:
    count = as_int(n, f"{action}'s n")
    if count < 0:
        raise UsageError(f"{action} needs n >= 0, got {n!r}")
    return count


def _check_fn(fn: object, what: str) -> None:
    if not callable(fn):
        raise UsageError(f"{what} needs a callable, got {type(fn).__name__}")


class Dataset:
    """A lazy, partitioned collection of records.

    >>> import gristmill as gm
    >>> cfg = gm.Config(executor="inline", progress=False)
    >>> words = gm.from_items(["a b", "b"]).flat_map(str.split)
    >>> words.count_by_value(partitions=1).collect(config=cfg)
    [('a', 1), ('b', 2)]
    """

    def __init__(self, node: Node) -> None:
        self._node = node

    @property
    def node(self) -> Node:
        """The logical plan node this dataset stands for."""
        return self._node

    # -- narrow ---------------------------------------------------------------------------

    def _narrow(self, kind: OpKind, fn: Callable[..., Any], name: str) -> Dataset:
        _check_fn(fn, name)
        return Dataset(Narrow(self._node, Op(kind, fn, name)))

    def map(self, fn: Callable[[Any], Any]) -> Dataset:
        """One output record per input record.

        >>> import gristmill as gm
        >>> cfg = gm.Config(executor="inline", progress=False)
        >>> gm.from_items([1, 2, 3]).map(lambda x: x * 10).collect(config=cfg)
        [10, 20, 30]
        """
        return self._narrow(OpKind.MAP, fn, "map")

    def flat_map(self, fn: Callable[[Any], Iterable[Any]]) -> Dataset:
        """Zero or more output records per input record.

        >>> import gristmill as gm
        >>> cfg = gm.Config(executor="inline", progress=False)
        >>> gm.from_items(["a b", "c"]).flat_map(str.split).collect(config=cfg)
        ['a', 'b', 'c']
        """
        return self._narrow(OpKind.FLAT_MAP, fn, "flat_map")

    def filter(self, fn: Callable[[Any], Any]) -> Dataset:
        """Keep records for which `fn` is true.

        >>> import gristmill as gm
        >>> cfg = gm.Config(executor="inline", progress=False)
        >>> gm.from_items(range(6)).filter(lambda x: x % 2).collect(config=cfg)
        [1, 3, 5]
        """
        return self._narrow(OpKind.FILTER, fn, "filter")

    def map_partitions(self, fn: Callable[[Iterator[Any]], Iterable[Any]]) -> Dataset:
        """`fn` receives an iterator over one partition's records and yields output records.

        >>> import gristmill as gm
        >>> cfg = gm.Config(executor="inline", progress=False)
        >>> ds = gm.from_items(range(6), partitions=2)
        >>> ds.map_partitions(lambda part: [sum(part)]).collect(config=cfg)
        [3, 12]
        """
        return self._narrow(OpKind.MAP_PARTITIONS, fn, "map_partitions")

    def map_batches(
        self, fn: Callable[[Any], Any], *, batch_format: BatchFormat = "default"
    ) -> Dataset:
        """`fn` receives a batch of records and returns a batch, for columnar work.

        With ``batch_format="default"`` a batch is a list of records, or for
        `read_binary_records` input a numpy ``uint8`` array of shape (records, record_size).
        With ``"pyarrow"`` it is a ``pyarrow.Table``: plain values are the column ``item``,
        dicts one column per key, ``(key, value)`` pairs the columns ``key`` and ``value``.
        `fn` may return a Table, an Array (the ``item`` column) or a list. Columnar output
        stays columnar where the next step understands it: ``count_by_value`` counts a
        one-column table in C++, a ``prefix_key`` sort and ``write_binary_records`` take blocks.

        >>> import gristmill as gm, pyarrow.compute as pc
        >>> cfg = gm.Config(executor="inline", progress=False)
        >>> gm.from_items([1, 2, 3], partitions=1).map_batches(lambda b: [sum(b)]).collect(
        ...     config=cfg)
        [6]
        >>> gm.from_items(["a b", "b"], partitions=1).map_batches(
        ...     lambda t: pc.list_flatten(pc.utf8_split_whitespace(t["item"])),
        ...     batch_format="pyarrow").count_by_value().collect(config=cfg)
        [('a', 1), ('b', 2)]
        """
        if batch_format not in ("default", "pyarrow"):
            raise UsageError(f"batch_format must be 'default' or 'pyarrow', got {batch_format!r}")
        _check_fn(fn, "map_batches")
        wrapped = fn if batch_format == "default" else ArrowBatches(fn)
        return Dataset(Narrow(self._node, Op(OpKind.MAP_BATCHES, wrapped, "map_batches")))

    def key_by(self, fn: Callable[[Any], Any]) -> Dataset:
        """``x -> (fn(x), x)``.

        >>> import gristmill as gm
        >>> cfg = gm.Config(executor="inline", progress=False)
        >>> gm.from_items(["ab", "c"]).key_by(len).collect(config=cfg)
        [(2, 'ab'), (1, 'c')]
        """
        _check_fn(fn, "key_by")
        return self._narrow(OpKind.MAP, fns.KeyBy(fn), "key_by")

    def map_values(self, fn: Callable[[Any], Any]) -> Dataset:
        """``(k, v) -> (k, fn(v))``.

        >>> import gristmill as gm
        >>> cfg = gm.Config(executor="inline", progress=False)
        >>> gm.from_items([("a", 1)]).map_values(str).collect(config=cfg)
        [('a', '1')]
        """
        _check_fn(fn, "map_values")
        return self._narrow(OpKind.MAP, fns.MapValues(fn), "map_values")

    def flat_map_values(self, fn: Callable[[Any], Iterable[Any]]) -> Dataset:
        """``(k, v) -> (k, w) for w in fn(v)``.

        >>> import gristmill as gm
        >>> cfg = gm.Config(executor="inline", progress=False)
        >>> gm.from_items([("a", "x y")]).flat_map_values(str.split).collect(config=cfg)
        [('a', 'x'), ('a', 'y')]
        """
        _check_fn(fn, "flat_map_values")
        return self._narrow(OpKind.FLAT_MAP, fns.FlatMapValues(fn), "flat_map_values")

    def keys(self) -> Dataset:
        """``(k, v) -> k``.

        >>> import gristmill as gm
        >>> cfg = gm.Config(executor="inline", progress=False)
        >>> gm.from_items([("a", 1), ("b", 2)]).keys().collect(config=cfg)
        ['a', 'b']
        """
        return self._narrow(OpKind.MAP, fns.first, "keys")

    def values(self) -> Dataset:
        """``(k, v) -> v``.

        >>> import gristmill as gm
        >>> cfg = gm.Config(executor="inline", progress=False)
        >>> gm.from_items([("a", 1), ("b", 2)]).values().collect(config=cfg)
        [1, 2]
        """
        return self._narrow(OpKind.MAP, fns.second, "values")

    def cache(self) -> Dataset:
        """This dataset, computed once by the first job that needs it and read back by the
        later ones, as Spark's ``cache``: an iterative job stops recomputing its history.

        It is kept, a run file per partition (records, pyarrow tables and binary blocks as
        they are), under the scratch directory until `unpersist` or the end of the process.
        Use the dataset returned (caching does not change `self`).

        >>> import gristmill as gm
        >>> cfg = gm.Config(executor="inline", progress=False)
        >>> squares = gm.from_items(range(5)).map(lambda x: x * x).cache()
        >>> squares.count(config=cfg), squares.collect(config=cfg)  # computed once
        (5, [0, 1, 4, 9, 16])
        >>> squares.unpersist()
        """
        from gristmill.api import cache

        return Dataset(Cached(self._node, cache.new_token()))

    def unpersist(self) -> None:
        """Delete the data `cache` kept for this dataset; a later job computes (and keeps) it
        again.

        >>> import gristmill as gm
        >>> gm.from_items([1]).cache().unpersist()
        """
        from gristmill.api import cache

        if isinstance(self._node, Cached):
            cache.forget(self._node.token)

    def union(self, *others: Dataset) -> Dataset:
        """All records of this dataset, then all of `others` (order kept per partition).

        >>> import gristmill as gm
        >>> cfg = gm.Config(executor="inline", progress=False)
        >>> gm.from_items([1]).union(gm.from_items([2, 3])).collect(config=cfg)
        [1, 2, 3]
        """
        for other in others:
            if not isinstance(other, Dataset):
                raise UsageError(f"union takes Datasets, got {type(other).__name__}: {other!r:.80}")
        return Dataset(Union((self._node, *(o.node for o in others))))

    # -- wide -----------------------------------------------------------------------------

    def _shuffle(self, spec: ShuffleSpec) -> Dataset:
        spec = dataclasses.replace(spec, partitions=check_partitions(spec.partitions))
        return Dataset(Shuffle(self._node, spec))

    def reduce_by_key(
        self, fn: Callable[[Any, Any], Any], partitions: int | None = None
    ) -> Dataset:
        """Combine the values of each key with `fn` (associative); combines map-side too.

        With ``fn=operator.add`` (recognised by identity: a ``lambda a, b: a + b`` is not),
        records of exactly str keys and int values are summed map-side in a C table, not a
        dict (about twice as fast), and integer sums of str or int keys may cross the
        shuffle as pyarrow tables, summed, sorted and written in C++; the output is the same
        either way.

        >>> import gristmill as gm, operator
        >>> cfg = gm.Config(executor="inline", progress=False)
        >>> gm.from_items([("a", 1), ("b", 2), ("a", 3)], partitions=2).reduce_by_key(
        ...     operator.add, 1).collect(config=cfg)
        [('a', 4), ('b', 2)]
        """
        _check_fn(fn, "reduce_by_key")
        agg = Aggregator(add=fn, merge=fn)
        return self._shuffle(ShuffleSpec(ShuffleKind.AGGREGATE, partitions, agg))

    def combine_by_key(
        self,
        create: Callable[[Any], Any],
        add: Callable[[Any, Any], Any],
        merge: Callable[[Any, Any], Any],
        partitions: int | None = None,
    ) -> Dataset:
        """Per key: ``create(v)`` an accumulator, ``add(acc, v)``, ``merge(acc, acc)``.

        >>> import gristmill as gm
        >>> cfg = gm.Config(executor="inline", progress=False)
        >>> pairs = gm.from_items([("a", 1), ("b", 5), ("a", 3)])
        >>> pairs.combine_by_key(lambda v: [v], lambda acc, v: acc + [v], list.__add__).collect(
        ...     config=cfg)
        [('a', [1, 3]), ('b', [5])]
        """
        for fn, name in ((create, "create"), (add, "add"), (merge, "merge")):
            _check_fn(fn, f"combine_by_key {name}")
        agg = Aggregator(add=add, merge=merge, create=create)
        return self._shuffle(ShuffleSpec(ShuffleKind.AGGREGATE, partitions, agg))

    def count_by_value(self, partitions: int | None = None) -> Dataset:
        """``(value, count)`` for each distinct record; counted in C on whole batches (str
        records in a C table of counts, one-column pyarrow tables in C++).

        >>> import gristmill as gm
        >>> cfg = gm.Config(executor="inline", progress=False)
        >>> sorted(gm.from_items(["a", "b", "a"]).count_by_value().collect(config=cfg))
        [('a', 2), ('b', 1)]
        """
        agg = Aggregator(add=operator.add, merge=operator.add)
        return self._shuffle(ShuffleSpec(ShuffleKind.COUNT, partitions, agg))

    def group_by_key(
        self,
        partitions: int | None = None,
        *,
        sort_values: bool = False,
        value_key: Callable[[Any], Any] | None = None,
    ) -> Dataset:
        """``(k, values)``: values stream once (use ``list(values)`` to keep them).

        Values come in input order, or sorted (secondary sort) with `sort_values` or by
        `value_key`; the sort is part of the shuffle's merge, so it never needs a group in memory.

        >>> import gristmill as gm
        >>> cfg = gm.Config(executor="inline", progress=False)
        >>> pairs = gm.from_items([("a", 3), ("b", 1), ("a", 2)])
        >>> pairs.group_by_key(sort_values=True).map_values(list).collect(config=cfg)
        [('a', [2, 3]), ('b', [1])]
        """
        if value_key is None and sort_values:
            value_key = fns.identity
        return self._shuffle(ShuffleSpec(ShuffleKind.GROUP, partitions, value_key=value_key))

    def join(
        self,
        other: Dataset,
        partitions: int | None = None,
        *,
        broadcast: bool | None = None,
    ) -> Dataset:
        """Inner join of two keyed datasets: ``(k, (left_value, right_value))``.

        Both sides shuffle (a sort-merge join), unless `other` is broadcast: computed first,
        held in memory by every task, and `self` joined where it is read, never shuffled.
        ``broadcast=True`` asks for that; then the output follows `self`'s partitions and
        order instead of being sorted by key. ``broadcast=None`` (the default) broadcasts on
        its own only when `other`'s inputs total at most ``Config.broadcast_threshold`` and
        record-wise ops lead from the join to an aggregation (``reduce_by_key``,
        ``combine_by_key``, ``count_by_value``), so its output order cannot show; that
        aggregation's function is then taken to be commutative, as Spark does. It does not
        when the built table would take over a quarter of the memory budget, when the join is
        given `partitions`, or in skip mode (where ``broadcast=True`` is refused).

        >>> import gristmill as gm
        >>> cfg = gm.Config(executor="inline", progress=False)
        >>> orders = gm.from_items([("p1", 3), ("p2", 1), ("p1", 2)])
        >>> names = gm.from_items([("p1", "tea"), ("p2", "jam")])
        >>> orders.join(names, broadcast=True).collect(config=cfg)
        [('p1', (3, 'tea')), ('p2', (1, 'jam')), ('p1', (2, 'tea'))]
        """
        return self._join(other, partitions, left=False, broadcast=broadcast)

    def left_join(
        self,
        other: Dataset,
        partitions: int | None = None,
        *,
        broadcast: bool | None = None,
    ) -> Dataset:
        """Left outer join: unmatched left records get ``(k, (left_value, None))``.

        `broadcast` as for `join`.

        >>> import gristmill as gm
        >>> cfg = gm.Config(executor="inline", progress=False)
        >>> orders = gm.from_items([("p1", 3), ("p9", 1)])
        >>> names = gm.from_items([("p1", "tea")])
        >>> sorted(orders.left_join(names).collect(config=cfg))
        [('p1', (3, 'tea')), ('p9', (1, None))]
        """
        return self._join(other, partitions, left=True, broadcast=broadcast)

    def _join(
        self, other: Dataset, partitions: int | None, *, left: bool, broadcast: bool | None
    ) -> Dataset:
        if not isinstance(other, Dataset):
            raise UsageError(f"join needs a Dataset, got {type(other).__name__}")
        if broadcast not in (True, False, None):
            raise UsageError(f"broadcast must be True, False or None, got {broadcast!r}")
        partitions = check_partitions(partitions)
        if broadcast is True and partitions is not None:
            raise UsageError("partitions= sizes a join's shuffle; a broadcast join has none")
        return Dataset(Join(self._node, other.node, partitions, left, broadcast))

    def distinct(self, partitions: int | None = None) -> Dataset:
        """Each distinct record once.

        >>> import gristmill as gm
        >>> cfg = gm.Config(executor="inline", progress=False)
        >>> sorted(gm.from_items(["b", "a", "b"]).distinct().collect(config=cfg))
        ['a', 'b']
        """
        pairs = self._narrow(OpKind.MAP, fns.pair_with_none, "distinct")
        reduced = pairs.reduce_by_key(fns.keep_first, partitions)
        return reduced.keys()

    def sort_by(
        self, key: Callable[[Any], Any], ascending: bool = True, partitions: int | None = None
    ) -> Dataset:
        """Total order by `key`: part files read in name order are globally sorted.

        Range boundaries come from key samples (as Hadoop's TotalOrderPartitioner); equal keys
        keep input order.

        >>> import gristmill as gm
        >>> cfg = gm.Config(executor="inline", progress=False)
        >>> gm.from_items(["bb", "a", "ccc"]).sort_by(len, ascending=False).collect(config=cfg)
        ['ccc', 'bb', 'a']
        """
        _check_fn(key, "sort_by")
        return self._shuffle(
            ShuffleSpec(ShuffleKind.SORT, partitions, sort_key=key, ascending=ascending)
        )

    def repartition(self, partitions: int) -> Dataset:
        """Spread records round-robin over `partitions` partitions.

        >>> import gristmill as gm
        >>> cfg = gm.Config(executor="inline", progress=False)
        >>> gm.from_items(range(5)).repartition(2).map_partitions(lambda p: [list(p)]).collect(
        ...     config=cfg)
        [[0, 2, 4], [1, 3]]
        """
        if partitions is None or partitions < 1:
            raise UsageError(f"repartition needs at least 1 partition, got {partitions}")
        return self._shuffle(ShuffleSpec(ShuffleKind.REPARTITION, partitions))

    # -- actions --------------------------------------------------------------------------

    def _run(self, sink: Sink, config: Config | None, **kw: Any) -> Any:
        from gristmill.api.execute import execute

        return execute(self._node, sink, config, **kw)

    def collect(self, *, config: Config | None = None) -> list[Any]:
        """All records, in partition order.

        >>> import gristmill as gm
        >>> cfg = gm.Config(executor="inline", progress=False)
        >>> gm.from_items([3, 1, 2], partitions=2).collect(config=cfg)
        [3, 1, 2]
        """
        return list(self._run(Sink(SinkKind.COLLECT), config).records)

    def take(self, n: int, *, config: Config | None = None) -> list[Any]:
        """The first `n` records in partition order.

        >>> import gristmill as gm
        >>> cfg = gm.Config(executor="inline", progress=False)
        >>> gm.from_items(range(100)).take(3, config=cfg)
        [0, 1, 2]
        """
        n = _check_count("take", n)
        return list(self._run(Sink(SinkKind.COLLECT, limit=n), config).records)

    def top(
        self, n: int, key: Callable[[Any], Any] | None = None, *, config: Config | None = None
    ) -> list[Any]:
        """The `n` largest records (by `key`), largest first; ties keep partition order.

        >>> import gristmill as gm
        >>> cfg = gm.Config(executor="inline", progress=False)
        >>> gm.from_items([("a", 3), ("b", 9), ("c", 5)]).top(2, key=lambda kv: kv[1], config=cfg)
        [('b', 9), ('c', 5)]
        """
        n = _check_count("top", n)
        run = self._run(Sink(SinkKind.TOP, limit=n, key=key), config)
        merged = itertools.chain.from_iterable(s.top for s in run.sinks)
        return heapq.nlargest(n, merged, key=key)

    def reduce(self, fn: Callable[[Any, Any], Any], *, config: Config | None = None) -> Any:
        """All records folded into one with `fn`, which must be associative and commutative
        (each partition is folded where it is, then the partial results in the driver, as
        Spark's ``reduce``); an empty dataset is an error.

        >>> import gristmill as gm
        >>> cfg = gm.Config(executor="inline", progress=False)
        >>> import operator
        >>> gm.from_items(range(1, 101), partitions=4).reduce(operator.add, config=cfg)
        5050
        """
        _check_fn(fn, "reduce")
        partials = self._narrow(OpKind.MAP_PARTITIONS, fns.PartialReduce(fn), "reduce").collect(
            config=config
        )
        if not partials:
            raise UsageError("reduce of an empty dataset: there is no record to start from")
        return functools.reduce(fn, partials)

    def count_by_key(self, *, config: Config | None = None) -> dict[Any, int]:
        """How many records each key has, as a dict in the driver (Spark's ``countByKey``).

        >>> import gristmill as gm
        >>> cfg = gm.Config(executor="inline", progress=False)
        >>> gm.from_items([("a", 1), ("b", 2), ("a", 3)]).count_by_key(config=cfg)
        {'a': 2, 'b': 1}
        """
        return dict(self.keys().count_by_value().collect(config=config))

    def collect_as_map(self, *, config: Config | None = None) -> dict[Any, Any]:
        """The ``(k, v)`` records as a dict in the driver; a repeated key keeps its last value
        in partition order (Spark's ``collectAsMap``).

        >>> import gristmill as gm
        >>> cfg = gm.Config(executor="inline", progress=False)
        >>> gm.from_items([("a", 1), ("b", 2), ("a", 3)]).collect_as_map(config=cfg)
        {'a': 3, 'b': 2}
        """
        return dict(self.collect(config=config))

    def count(self, *, config: Config | None = None) -> int:
        """The number of records.

        >>> import gristmill as gm
        >>> cfg = gm.Config(executor="inline", progress=False)
        >>> gm.from_items(range(1000)).filter(lambda x: x % 3 == 0).count(config=cfg)
        334
        """
        run = self._run(Sink(SinkKind.COUNT), config)
        return sum(int(s.records) for s in run.sinks)

    def write_text(
        self, path: str, *, overwrite: bool = False, config: Config | None = None
    ) -> JobResult:
        """Write ``part-NNNNN`` text files: ``k<TAB>v`` for pairs, ``str(record)`` otherwise.

        >>> import gristmill as gm
        >>> cfg = gm.Config(executor="inline", progress=False)
        >>> import os, tempfile
        >>> out = os.path.join(tempfile.mkdtemp(), "out")
        >>> result = gm.from_items([("a", 1), ("b", 2)], partitions=1).write_text(out, config=cfg)
        >>> open(result.output_paths[0]).read()
        'a\\t1\\nb\\t2\\n'
        """
        run = self._run(Sink(SinkKind.TEXT), config, output=path, overwrite=overwrite)
        return run.result  # type: ignore[no-any-return]

    def write_jsonl(
        self, path: str, *, overwrite: bool = False, config: Config | None = None
    ) -> JobResult:
        """Write ``part-NNNNN.jsonl`` files, one JSON value per record (tuples become lists).

        >>> import gristmill as gm
        >>> cfg = gm.Config(executor="inline", progress=False)
        >>> import os, tempfile
        >>> out = os.path.join(tempfile.mkdtemp(), "out")
        >>> result = gm.from_items([{"a": 1}, ("b", 2)], partitions=1).write_jsonl(out, config=cfg)
        >>> open(result.output_paths[0]).read()
        '{"a": 1}\\n["b", 2]\\n'
        """
        run = self._run(Sink(SinkKind.JSONL), config, output=path, overwrite=overwrite)
        return run.result  # type: ignore[no-any-return]

    def write_parquet(
        self, path: str, *, overwrite: bool = False, config: Config | None = None
    ) -> JobResult:
        """Write ``part-NNNNN.parquet`` files: dict records, a column per key (``(key,
        value)`` pairs: the columns ``key`` and ``value``).

        A part file's schema comes from its first batch (``pyarrow.Table.from_pylist``); a
        later record with other keys or other value types fails the job, naming the column and
        the record, instead of being cast. ``pyarrow.Table`` batches (from `map_batches`) are
        written as they are. An empty partition writes no file, as in Spark.

        >>> import gristmill as gm, tempfile, os, pyarrow.parquet as pq
        >>> out = os.path.join(tempfile.mkdtemp(), "out")
        >>> rows = gm.from_items([{"k": "a", "n": 1}, {"k": "b", "n": 2}], partitions=1)
        >>> _ = rows.write_parquet(out, config=gm.Config(executor="inline", progress=False))
        >>> pq.read_table(os.path.join(out, "part-00000.parquet")).to_pylist()
        [{'k': 'a', 'n': 1}, {'k': 'b', 'n': 2}]
        """
        run = self._run(Sink(SinkKind.PARQUET), config, output=path, overwrite=overwrite)
        return run.result  # type: ignore[no-any-return]

    def write_binary_records(
        self, path: str, *, overwrite: bool = False, config: Config | None = None
    ) -> JobResult:
        """Write ``part-NNNNN`` files of raw binary records, as `read_binary_records` reads them.

        Records must be ``bytes``; concatenated in name order, the part files hold every
        record in dataset order.

        >>> import gristmill as gm
        >>> cfg = gm.Config(executor="inline", progress=False)
        >>> import os, tempfile
        >>> out = os.path.join(tempfile.mkdtemp(), "out")
        >>> _ = gm.from_items([b"ab", b"cd"]).write_binary_records(out, config=cfg)
        >>> gm.read_binary_records(out, 2).collect(config=cfg)
        [b'ab', b'cd']
        """
        run = self._run(Sink(SinkKind.BINARY), config, output=path, overwrite=overwrite)
        return run.result  # type: ignore[no-any-return]

    def explain(self, *, config: Config | None = None) -> None:
        """Print the logical plan and the physical stages (returns None, as Spark's does, so
        a REPL does not show the plan twice).

        >>> import gristmill as gm
        >>> gm.from_items([1, 2]).map(str).explain()
        == logical plan ==
        ...
        == stages ==
        ...
        """
        from gristmill.api import cache
        from gristmill.api.execute import plan_for

        cfg = config or Config.resolve()
        lines = ["== logical plan ==", *describe(self._node), "== stages =="]
        # A cached dataset not computed yet is planned as what it caches; explain runs nothing.
        lines += plan_for(cache.resolved(self._node, cfg, None), cfg).describe()
        print("\n".join(lines))
