"""Interpret a pipeline's ops over record batches: a fused chain of C iterators per batch.

Batches keep Python's per-record overhead to the user's own calls. When user code
raises, the failing batch is replayed one record at a time to find the exact record, whose
file, line and byte offset are attached to the exception (the user's traceback is kept), or
in skip mode which is quarantined and left out; a `PerRecord` partition function (a
MapReduceJob phase) gets the same per record.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from gristmill.io.columnar import ArrowBatches, as_records, is_columnar, is_table
from gristmill.io.formats import Batch, Origin
from gristmill.plan.functions import SpillableList
from gristmill.plan.ops import Op, OpKind, PerRecord, stream_each
from gristmill.shuffle.reader import Values

BATCH = 4096
# Input records per fused pass of a pipeline's last record-wise ops: their output (a flat_map's
# words, say) is consumed while it is still in the core's L2 cache. A whole batch of lines at
# once (1MB then, ~100k pairs) made the shuffle writer read them back from memory: 22% slower.
SUB_BATCH = 256
HELD = 4096  # records of one skip-mode mapper or reducer call kept in memory, then spilled
LOCATION_ATTR = "gristmill_location"


def apply_ops(ops: tuple[Op, ...], records: list[Any]) -> list[Any]:
    """Apply a run of record-wise ops to a batch, fused: one pass, one list at the end.

    The ops chain as C iterators (map, filter, chain), so no intermediate list is built and
    no Python bytecode runs per record besides the user's functions.

    >>> ops = (Op(OpKind.FLAT_MAP, str.split, "flat_map"), Op(OpKind.FILTER, str.isalpha, "f"))
    >>> apply_ops(ops, ["a b", "1 c"])
    ['a', 'b', 'c']
    """
    return list(chained(ops, records))


def chained(ops: tuple[Op, ...], records: list[Any]) -> Iterator[Any]:
    """`ops` over `records` as one lazy chain of C iterators."""
    stream: Iterator[Any] = iter(records)
    for op in ops:
        fn = op.fn
        kind = op.kind
        if kind is OpKind.MAP:
            stream = map(fn, stream)
        elif kind is OpKind.FILTER:
            stream = filter(fn, stream)
        elif kind is OpKind.FLAT_MAP:
            stream = itertools.chain.from_iterable(map(fn, stream))
        else:
            raise ValueError(f"{op.name} is not record-wise")
    return stream


class _Pass:
    """A pass of record-wise ops over input records `part`, which start at record `base` of
    `origin` (or are named by `describe`): what both a pass not yet run and a run pass's
    trace keep, to find the input record behind a failure."""

    # `_ends`: where each input record's output ends, once a trace has replayed the pass.
    __slots__ = ("_base", "_describe", "_ends", "_ops", "_origin", "_part")

    def __init__(
        self,
        ops: tuple[Op, ...],
        part: list[Any],
        origin: Where | None,
        describe: Callable[[Any], str],
        base: int,
    ) -> None:
        self._ops, self._part, self._origin = ops, part, origin
        self._describe, self._base = describe, base
        self._ends: list[int] | None = None


class Lazy(_Pass):
    """A pass of record-wise ops over input records, not yet run.

    A consumer that folds records one at a time (the map-side combine) iterates it, so the
    ops' output is never built as a list: each pair is combined and freed while it is still
    in L1 (12% less CPU for a word count). If iterating raises, `failed` says which input
    record the user's code failed on.
    """

    __slots__ = ()

    def __iter__(self) -> Iterator[Any]:
        return chained(self._ops, self._part)

    def counted(self) -> tuple[Iterator[Any], int | None]:
        """The pass's output and, when its last ops are maps (one record out per record in),
        how many records it makes: their input is listed first (pointers to records that
        exist anyway), so a fold need not count records one by one (9% of a word count's
        fold)."""
        ops = self._ops
        cut = len(ops)
        while cut and ops[cut - 1].kind is OpKind.MAP:
            cut -= 1
        if cut == len(ops):
            return chained(ops, self._part), None
        head = self._part if cut == 0 else list(chained(ops[:cut], self._part))
        return chained(ops[cut:], head), len(head)

    def failed(self, exc: BaseException) -> None:
        """Attach the failing input record's location to `exc`, if a user function failed."""
        where = _failing(self._ops, self._part, self._origin, self._describe, self._base)
        if where is not None:
            _attach(exc, where)


class Trace(_Pass):
    """Where a run pass of record-wise ops got its output: output record `index` is traced
    back by replaying the pass one input record at a time, only when asked (a partition
    function downstream failed on it, or skips it). User functions are assumed deterministic,
    as the replay of a failed batch assumes."""

    __slots__ = ()

    def _source(self, index: int) -> int | None:
        if self._ends is None:  # replayed once: a pass with many bad records stays linear
            ends, seen = [], 0
            for record in self._part:
                with contextlib.suppress(Exception):  # a record that raised made no output
                    seen += len(apply_ops(self._ops, [record])) if _rewind(record) else 0
                ends.append(seen)
            self._ends = ends
        position = bisect.bisect_right(self._ends, index)
        return position if position < len(self._ends) else None

    def locate(self, index: int) -> str:
        """Where the input record that made output record `index` came from."""
        position = self._source(index)
        if position is None:
            return "unknown record"
        record = self._part[position]
        return record_where(self._origin, self._base + position, self._describe, record)

    def record(self, index: int) -> Any:
        """The input record that made output record `index` (None if not found)."""
        position = self._source(index)
        return None if position is None else shown(self._part[position])


Where = Origin | Trace  # what a batch's records are located by


def _segments(ops: tuple[Op, ...]) -> list[tuple[Op, ...] | Op]:
    """Split ops into runs of record-wise ops and single partition- or batch-wise ops."""
    out: list[tuple[Op, ...] | Op] = []
    run: list[Op] = []
    for op in ops:
        if op.kind in (OpKind.MAP_PARTITIONS, OpKind.MAP_BATCHES):
            if run:
                out.append(tuple(run))
                run = []
            out.append(op)
        else:
            run.append(op)
    if run:
        out.append(tuple(run))
    return out


SkipBad = Callable[[str, str, Any], None]  # (location, error, record): skip mode's quarantine


def run_pipeline(
    ops: tuple[Op, ...],
    batches: Iterator[Batch],
    describe: Callable[[Any], str],
    skip: SkipBad | None = None,
    *,
    lazy: bool = False,
    isolated: bool = False,
) -> Iterator[Any]:
    """The output batches of `ops` applied to `batches`; empty batches are dropped.

    `describe(record)` names an input record that has no file origin (shuffle input). With
    `skip`, a record on which user code raises is handed to it and left out. With `lazy`
    (for a consumer that folds records one by one), a pipeline that ends in record-wise ops
    yields them as `Lazy` passes, which may turn out empty; never in skip mode, which needs
    each pass's output whole to replay it record by record. `isolated` (crash narrowing, whose
    batches hold one input record each) hands a partition function's output on record by
    record, so that everything after it is done with an input record before the next goes in.
    """
    lazy = lazy and skip is None
    stream: Iterator[tuple[Any, Where | None]] = ((b.records, b.origin) for b in batches)
    segments = _segments(ops)
    for number, segment in enumerate(segments, 1):
        if isinstance(segment, Op) and segment.kind is OpKind.MAP_BATCHES:
            stream = _batches(segment, stream)  # blocks stay blocks: columnar user code
        elif isinstance(segment, Op):
            chunk = 1 if isolated else BATCH
            stream = _partitions(segment, _as_lists(stream), describe, skip, chunk=chunk)
        else:
            # Only the last segment's output goes in small pieces: a later map_batches or
            # map_partitions keeps seeing whole batches.
            last = number == len(segments)
            sub = SUB_BATCH if last else 0
            stream = _records(
                segment, _as_lists(stream), describe, skip, sub=sub, lazy=lazy and last
            )
    for records, _origin in stream:
        if type(records) is Lazy or len(records):
            yield records


def _records(
    ops: tuple[Op, ...],
    stream: Iterator[tuple[list[Any], Where | None]],
    describe: Callable[[Any], str],
    skip: SkipBad | None,
    *,
    sub: int = 0,
    lazy: bool = False,
) -> Iterator[tuple[Any, Where | None]]:
    """`ops` over each batch, in passes of `sub` input records (0: the whole batch); with
    `lazy`, each pass is a `Lazy` for its consumer to run. Each pass carries a `Trace`, so a
    partition function after it can name the input record it failed on (or skip it)."""
    for source, origin in stream:
        step = sub if 0 < sub < len(source) else max(len(source), 1)
        for base in range(0, len(source), step):
            part = source if step >= len(source) else source[base : base + step]
            if lazy:
                yield Lazy(ops, part, origin, describe, base), None
                continue
            try:
                records = apply_ops(ops, part)
            except Exception as exc:
                if skip is None:
                    _attach(exc, _locate(ops, part, origin, describe, base))
                    raise
                records = _skip_bad(ops, part, origin, describe, skip, base=base)
            yield records, Trace(ops, part, origin, describe, base)


def record_where(
    origin: Where | None, index: int, describe: Callable[[Any], str], record: Any
) -> str:
    """Where input `record`, record `index` of a batch from `origin`, came from (`describe`
    names records with no file origin: shuffle and in-memory input)."""
    return origin.locate(index) if origin is not None else describe(record)


def _skip_bad(
    ops: tuple[Op, ...],
    source: list[Any],
    origin: Where | None,
    describe: Callable[[Any], str],
    skip: SkipBad,
    *,
    base: int = 0,
) -> list[Any]:
    """Replay a failed batch record by record, keeping the good ones' output; `source` starts
    at record `base` of its origin."""
    out: list[Any] = []
    for index, record in enumerate(source, base):
        if not _rewind(record):  # a streamed group already read: never emit a partial result
            where = record_where(origin, index, describe, record)
            skip(where, "group too large to replay after a failure in its batch", record[0])
            continue
        one = [record]
        try:
            one = apply_ops(ops, one)
        except Exception as exc:
            where = record_where(origin, index, describe, record)
            skip(where, f"{type(exc).__name__}: {exc}", record)
            continue
        out.extend(one)
    return out


def _as_lists(
    stream: Iterator[tuple[Any, Where | None]],
) -> Iterator[tuple[list[Any], Where | None]]:
    """Record-wise user code sees records, never a block or a table."""
    return ((as_records(records), origin) for records, origin in stream)


def _batches(
    op: Op, stream: Iterator[tuple[Any, Where | None]]
) -> Iterator[tuple[Any, Where | None]]:
    # A list-format fn sees lists of records even where the batch came as a table (a
    # reducer's columnar sums): blocks stay blocks, as documented.
    as_lists = not isinstance(op.fn, ArrowBatches)
    for records, origin in stream:
        if as_lists and is_table(records):
            records = as_records(records)
        try:
            out = op.fn(records)
        except Exception as exc:
            where = f" at {origin.locate(0)}" if origin is not None and len(records) else ""
            _attach(exc, f"inside {op.describe()}, batch of {len(records)} records{where}")
            raise
        yield (out if is_columnar(out) else list(out)), None


def _partitions(
    op: Op,
    stream: Iterator[tuple[list[Any], Where | None]],
    describe: Callable[[Any], str],
    skip: SkipBad | None,
    *,
    chunk: int = BATCH,
) -> Iterator[tuple[list[Any], Where | None]]:
    tracked: _Tracked | None = None
    if isinstance(op.fn, PerRecord):
        tracked = _Tracked(stream, describe) if skip is None else _Feed(stream, describe, skip)
        out = iter(op.fn.run(iter(tracked), tracked.each))
    else:
        out = iter(op.fn(itertools.chain.from_iterable(records for records, _ in stream)))
    try:
        while part := list(itertools.islice(out, chunk)):
            yield part, None
    except Exception as exc:
        # A mapper's or reducer's failure names the input line or group it was working on.
        at = f", input record in flight: {tracked.where()}" if tracked is not None else ""
        _attach(exc, f"inside {op.describe()}{at}")
        raise


class _Tracked:
    """A `PerRecord` partition function's input, one record at a time, remembering the record
    in flight so a failure can name it (its file and line, or its group's key). Its user
    calls stream their output (`each`)."""

    each = staticmethod(stream_each)

    def __init__(
        self, stream: Iterator[tuple[list[Any], Where | None]], describe: Callable[[Any], str]
    ) -> None:
        self._stream, self._describe = stream, describe
        self._records: list[Any] = []
        self._origin: Where | None = None
        self._index = 0
        self._done = False

    def __iter__(self) -> Iterator[Any]:
        for records, origin in self._stream:
            self._records, self._origin = records, origin
            for index, record in enumerate(records):
                self._index = index
                yield record
        self._done = True

    def where(self) -> str:
        """The record in flight: where it came from."""
        if self._done:
            return "none (all input read)"
        if not self._records:
            return "none (before the first)"
        record = self._records[self._index]
        return record_where(self._origin, self._index, self._describe, record)


class _Feed(_Tracked):
    """`_Tracked` in skip mode: `each` hands a record whose user call raised to the same
    quarantine as record-wise ops' bad records, located the same way."""

    def __init__(
        self,
        stream: Iterator[tuple[list[Any], Where | None]],
        describe: Callable[[Any], str],
        skip: SkipBad,
    ) -> None:
        super().__init__(stream, describe)
        self._skip = skip

    def each(self, fn: Callable[..., Iterable[Any] | None], *args: Any) -> Iterator[Any]:
        """`fn(*args)`'s output, whole: a call that raises part way made none. It is held
        until the call ends, spilling to disk past `HELD` records (a reducer may emit a
        record per value of a large group)."""
        with SpillableList(limit=HELD) as held:
            try:
                out = fn(*args)
                for record in () if out is None else out:
                    held.append(record)
            except Exception as exc:
                origin, index = self._origin, self._index
                record = self._records[index]
                bad = origin.record(index) if isinstance(origin, Trace) else shown(record)
                self._skip(self.where(), f"{type(exc).__name__}: {exc}", bad)
                return
            yield from held


def shown(record: Any) -> Any:
    """What the quarantine keeps of a bad record: a group's key, not its streamed values."""
    if type(record) is tuple and len(record) == 2 and isinstance(record[1], Values):
        return record[0]
    return record


def _rewind(record: Any) -> bool:
    """Group values are single-pass: False if this record's can no longer be replayed whole."""
    if type(record) is tuple and len(record) == 2 and isinstance(record[1], Values):
        return record[1].rewind()
    return True


def _locate(
    ops: tuple[Op, ...],
    source: list[Any],
    origin: Where | None,
    describe: Callable[[Any], str],
    base: int = 0,
) -> str:
    """Replay records one by one to find the first that fails; describe where it came from
    (`source` starts at record `base` of its origin)."""
    where = _failing(ops, source, origin, describe, base)
    if where is not None:
        return where
    return origin.locate(base) if origin is not None else "unknown record"


def _failing(
    ops: tuple[Op, ...],
    source: list[Any],
    origin: Where | None,
    describe: Callable[[Any], str],
    base: int,
) -> str | None:
    """Where the first record that fails `ops` alone came from; None if none fails."""
    for index, record in enumerate(source, base):
        _rewind(record)
        try:
            one = [record]
            one = apply_ops(ops, one)
        except Exception:
            return record_where(origin, index, describe, record)
    return None


def _attach(exc: BaseException, location: str) -> None:
    if getattr(exc, LOCATION_ATTR, None) is None:
        with contextlib.suppress(AttributeError):  # exceptions with __slots__
            setattr(exc, LOCATION_ATTR, location)
