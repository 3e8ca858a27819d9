"""Reduce side of a shuffle: k-way merge of sorted runs (groups, sorts) or hash aggregation
(combinable shuffles), streamed in record batches (tables, where map tasks wrote integer
sums as tables: `arrow_sums`).

Runs arrive in map-task order then spill order; `heapq.merge` breaks ties by run position,
and the hash table folds runs in that order, so equal keys keep map order and output is the
same however many workers ran. Group values are streamed: a large group never sits in
memory as a list.
"""

from __future__ import annotations

import itertools
import operator
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from gristmill.io.columnar import is_table, table_records
from gristmill.plan.logical import ShuffleKind
from gristmill.plan.stages import ShuffleInput
from gristmill.shuffle import arrow_sums
from gristmill.shuffle.arrow_sums import ArrowSums
from gristmill.shuffle.fold import fold_pairs
from gristmill.shuffle.merge import SpilledRun, bounded, close_runs, fan_in, merge, spill_sorted
from gristmill.shuffle.order import TotalKey, merge_key
from gristmill.shuffle.ranges import range_index
from gristmill.shuffle.runfile import FrameInfo, ReadTally, RunInfo, read_frames, read_index
from gristmill.shuffle.sizing import BUFFER_SHARE, SizeEstimator

BATCH = 4096
GROUP_INLINE = 1024  # values buffered before a group is handed over as a stream


@dataclass(frozen=True)
class ReduceSource:
    """Everything a reduce task needs to find its data, filled in by the driver at run time."""

    runs: tuple[RunInfo, ...]
    boundaries: tuple[Any, ...] = ()
    total_order: bool = False


class Values(Iterator[Any]):
    """The values of one key, streamed; iterate once (use ``list(values)`` to keep them).

    Pickling materializes the values as a list, so groups that cross a shuffle or reach the
    driver arrive whole.
    """

    __slots__ = ("_done", "_expired", "_it", "_list", "_started")

    def __init__(self, values: Iterable[Any]) -> None:
        self._list = values if isinstance(values, list) else None
        self._it = iter(values)
        self._done = False
        self._expired = False
        self._started = False

    def rewind(self) -> bool:
        """Start over to replay a failed record; False if streamed values were already read."""
        if self._list is None:
            return not self._started
        self._it = iter(self._list)
        self._done = self._expired = self._started = False
        return True

    def __iter__(self) -> Values:
        if self._done:
            raise RuntimeError(
                "group values are streamed and were already consumed; use list(values) to keep them"
            )
        return self

    def __next__(self) -> Any:
        if self._expired:
            raise RuntimeError(
                "group values were read after the next group started; consume them inside the "
                "function that receives them, or keep list(values)"
            )
        self._started = True
        try:
            return next(self._it)
        except StopIteration:
            self._done = True
            raise

    def __reduce__(self) -> tuple[Any, ...]:
        return (list, (list(self),))

    def expire(self) -> None:
        """Called when the shared stream moves on: later reads fail loudly, never silently short."""
        if not self._done:
            self._expired = True


def read_partition(
    inp: ShuffleInput, source: ReduceSource, partition: int, memory: int, tally: ReadTally
) -> Iterator[Any]:
    """Record batches of reduce partition `partition` (blocks, for a columnar binary sort).

    `tally` counts the bytes of the map-output frames read; intermediate merge files are the
    reducer's own scratch and are not counted.
    """
    kind = inp.kind
    if kind is ShuffleKind.REPARTITION:
        for run in source.runs:
            frames = [f for f in read_index(run.path) if f.partition == partition]
            yield from read_frames(run.path, frames, tally)
        return
    if kind is ShuffleKind.SORT and any(run.record_size for run in source.runs):
        from gristmill.shuffle.blocks import read_block_partition

        yield from read_block_partition(source.runs, source.boundaries, partition, memory, tally)
        return
    width, scratch = fan_in(memory), os.path.dirname(source.runs[0].path) if source.runs else ""
    if kind is ShuffleKind.SORT:
        total, reverse = source.total_order, not inp.ascending
        streams = _ranged_streams(inp, source, partition, tally)
        streams = bounded(streams, lambda g: merge(g, total, reverse=reverse), width, scratch)
        for chunk in _chunks(merge(streams, total, reverse=reverse)):
            yield [pair[1] for pair in chunk]
        return
    chosen = [(run.path, _frames_of(run.path, partition)) for run in source.runs]
    total = source.total_order
    if kind is ShuffleKind.GROUP:
        streams = [_records(path, frames, tally) for path, frames in chosen]
        value_key = inp.value_key
        streams = bounded(streams, lambda g: merge(g, total, value_key=value_key), width, scratch)
        yield from _GroupStream(merge(streams, total, value_key=value_key), total).batches()
    else:
        assert inp.aggregator is not None
        yield from _hash_combine(
            chosen, inp.aggregator.merge, total, tally, memory=memory, scratch=scratch
        )


def _hash_combine(
    chosen: list[tuple[str, list[FrameInfo]]],
    agg: Any,
    total: bool,
    tally: ReadTally,
    *,
    memory: int,
    scratch: str,
) -> Iterator[list[Any]]:
    """Combine by hashing, then sort the distinct keys once: the merge's output, cheaper.

    Runs are read in order, so each key's values are merged in run order and the key kept is
    the first run's, exactly as a k-way merge of the runs (ties in run order) would give. A
    table that outgrows its share of `memory` is sorted and spilled, and the spills merge
    with the last table at the end (Spark's ExternalAppendOnlyMap): memory follows the
    partition's distinct keys, not its records, and only a partition with more distinct keys
    than fit pays for a merge.
    """
    acc: dict[Any, Any] = {}
    spills: list[SpilledRun] = []
    streams: list[Any] = []
    # Table frames (`arrow_sums`) are summed as tables until a record frame comes: from
    # then on all is records, the sums so far first, so keys fold in run order either way.
    # The final sum and sort make copies of what is held (the sum, the sort's words, the
    # sorted table): tables hold at most half the share, in piles of an eighth of that.
    table_share = min(memory * BUFFER_SHARE / 2, arrow_sums.MAX_COMBINED)
    summing = agg is operator.add and not total
    sums = ArrowSums(int(table_share / 8), adaptive=True) if summing else None
    try:
        sizer = SizeEstimator()
        for path, frames in chosen:
            for batch in read_frames(path, frames, tally):
                if is_table(batch):
                    table = sums.accepts(batch) if sums is not None and not acc else None
                    if sums is not None and table is not None:
                        sums.add(table)
                        if sums.nbytes > table_share:
                            spills.append(spill_sorted(_table_pairs(sums), scratch))
                        continue
                    batch = table_records(batch)
                if sums is not None:
                    fold_pairs(acc, _table_pairs(sums), agg)
                    sums = None
                sizer.observe(batch)
                fold_pairs(acc, batch, agg)
                if sizer.table_bytes(len(acc)) > memory * BUFFER_SHARE:
                    spills.append(spill_sorted(iter(_sorted_items(acc, total)), scratch))
                    acc.clear()
        if sums is not None and not spills:  # tables alone: summed and sorted in C++
            table = sums.take(final=True)
            if table is not None:
                # in the records' batches, so a map_batches after sees the same batches
                yield from arrow_sums.slices(arrow_sums.sort_by_key(table), BATCH)
                return
        if sums is not None:
            spills.append(spill_sorted(_table_pairs(sums), scratch))
        pairs = _sorted_items(acc, total)
        del acc
        if spills:  # earlier spills first: ties keep run order

            def combined(group: list[Iterator[Any]]) -> Iterator[Any]:
                return _flat(_combine(merge(group, total), agg, total))

            streams = bounded([*spills, iter(pairs)], combined, fan_in(memory), scratch)
            yield from _combine(merge(streams, total), agg, total)
            return
        if total:  # keys a dict keeps apart may be one key in the total order (NaNs): merge
            yield from _combine(iter(pairs), agg, total)
            return
        for start in range(0, len(pairs), BATCH):
            yield pairs[start : start + BATCH]
    finally:  # read runs are gone already; a failure (or an early stop) leaves none behind
        close_runs([*spills, *streams])


def _table_pairs(sums: ArrowSums) -> Iterator[tuple[Any, Any]]:
    """The rows held as pairs sorted by key (a key may repeat: merges combine them), emptying
    `sums`. Not summed first: a hash table over them costs more memory than the sort."""
    table = sums.take(final=False)
    if table is None:
        return iter(())
    table = arrow_sums.sort_by_key(table)
    arrow_sums.release_freed()  # what follows is Python objects
    return arrow_sums.pairs(table)


def _sorted_items(acc: dict[Any, Any], total: bool) -> list[tuple[Any, Any]]:
    pairs = list(acc.items())
    pairs.sort(key=merge_key(total))
    return pairs


def _flat(batches: Iterator[list[Any]]) -> Iterator[Any]:
    return itertools.chain.from_iterable(batches)


def _frames_of(path: str, partition: int) -> list[FrameInfo]:
    return [f for f in read_index(path) if f.partition == partition]


def _records(path: str, frames: list[FrameInfo], tally: ReadTally) -> Iterator[Any]:
    for batch in read_frames(path, frames, tally):
        yield from batch


_END: Any = object()


def _chunks(records: Iterator[Any]) -> Iterator[list[Any]]:
    while chunk := list(itertools.islice(records, BATCH)):
        yield chunk


def _combine(merged: Iterator[Any], merge: Any, total: bool) -> Iterator[list[Any]]:
    batch: list[Any] = []
    pending = next(merged, _END)
    while pending is not _END:
        key, acc = pending
        probe = TotalKey(key) if total else key  # compares first: its `!=` decides
        pending = _END
        for pair in merged:
            if probe != pair[0]:
                pending = pair
                break
            acc = merge(acc, pair[1])
        batch.append((key, acc))
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


class _GroupStream:
    """Cuts a merged pair stream into (key, Values) groups, streaming the large ones."""

    def __init__(self, pairs: Iterator[Any], total: bool) -> None:
        self._it = pairs
        self._pending: Any = next(pairs, _END)
        self._total = total

    def _tail(self, probe: Any) -> Iterator[Any]:
        for pair in self._it:
            if probe != pair[0]:
                self._pending = pair
                return
            yield pair[1]

    def batches(self) -> Iterator[list[Any]]:
        batch: list[Any] = []
        total = self._total
        while self._pending is not _END:
            key, value = self._pending
            probe = TotalKey(key) if total else key  # compares first: its `!=` decides
            self._pending = _END
            values = [value]
            complete = True
            for pair in self._it:
                if probe != pair[0]:
                    self._pending = pair
                    break
                values.append(pair[1])
                if len(values) >= GROUP_INLINE:
                    complete = False
                    break
            if complete:
                batch.append((key, Values(values)))
                if len(batch) >= BATCH:
                    yield batch
                    batch = []
                continue
            tail = self._tail(probe)
            group = Values(itertools.chain(values, tail))
            batch.append((key, group))
            yield batch  # the consumer reads this group before we move the shared stream on
            batch = []
            group.expire()
            for _ in tail:  # values the consumer did not read
                pass
        if batch:
            yield batch


def _ranged_streams(
    inp: ShuffleInput, source: ReduceSource, partition: int, tally: ReadTally
) -> list[Iterator[Any]]:
    target = partition if inp.ascending else inp.num_partitions - 1 - partition
    bounds, total = source.boundaries, source.total_order
    streams = []
    for run in source.runs:
        frames = read_index(run.path)
        streams.append(_ranged_records(run.path, frames, target, bounds, total, tally=tally))
    return streams


def _in_range(
    frames: list[FrameInfo], target: int, bounds: tuple[Any, ...], total: bool
) -> list[tuple[FrameInfo, bool]]:
    """The sorted frames holding keys of range `target`, each with whether it lies wholly in it."""
    chosen: list[tuple[FrameInfo, bool]] = []
    for frame in frames:
        lo = range_index(frame.first_key, bounds, total)
        hi = range_index(frame.last_key, bounds, total)
        lo, hi = min(lo, hi), max(lo, hi)
        if lo <= target <= hi:
            chosen.append((frame, lo == hi))
    return chosen


def frames_read(
    inp: ShuffleInput, source: ReduceSource, partition: int, run: RunInfo
) -> list[FrameInfo]:
    """The frames of `run` that reduce partition `partition` reads (a replay keeps these)."""
    if inp.kind is ShuffleKind.SORT and run.record_size:
        from gristmill.shuffle.blocks import key_range, overlapping

        return overlapping(run.path, run.key_size, *key_range(source.boundaries, partition))
    frames = read_index(run.path)
    if inp.kind is ShuffleKind.SORT:
        target = partition if inp.ascending else inp.num_partitions - 1 - partition
        return [f for f, _ in _in_range(frames, target, source.boundaries, source.total_order)]
    return [f for f in frames if f.partition == partition]


def _ranged_records(
    path: str,
    frames: list[FrameInfo],
    target: int,
    bounds: tuple[Any, ...],
    total: bool,
    *,
    tally: ReadTally,
) -> Iterator[Any]:
    chosen = _in_range(frames, target, bounds, total)
    for (_frame, whole), batch in zip(
        chosen, read_frames(path, [c[0] for c in chosen], tally), strict=True
    ):
        if whole:
            yield from batch
        else:
            yield from (p for p in batch if range_index(p[0], bounds, total) == target)
