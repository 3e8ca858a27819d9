"""Map side of a shuffle: buffer records, combine or sort them, spill runs when memory is full.

One writer per map task. Combinable shuffles aggregate in a dict (hash aggregation), or
integer sums of (key, value) tables as tables (`arrow_sums`), and spill by partition,
unsorted, since their reducers hash too; grouping and sorting shuffles
buffer pairs and sort each spill; repartition only buckets. A sorted spill's frames are ordered
by partition then key, which is what lets reducers stream a k-way merge without holding a
partition in memory.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gristmill.faults import inject
from gristmill.io.columnar import as_records, is_table
from gristmill.plan.logical import ShuffleKind
from gristmill.plan.stages import ShuffleOutput
from gristmill.shuffle import arrow_sums
from gristmill.shuffle.arrow_counts import ArrowCounts
from gristmill.shuffle.arrow_sums import ArrowSums, summing
from gristmill.shuffle.fold import fold_pairs, needs_count, new_str_sums, take_str_sums
from gristmill.shuffle.keys import bucket_pairs
from gristmill.shuffle.order import (
    UNSORTED,
    Family,
    key_family,
    pairs_family,
    sort_pairs,
    sort_runs,
    sort_verifies,
)
from gristmill.shuffle.runfile import RunInfo, RunWriter
from gristmill.shuffle.sizing import BUFFER_SHARE, SizeEstimator

if TYPE_CHECKING:
    import pyarrow as pa

FRAME_BYTES = 256 * 1024
TABLE_MIN_BYTES = 64 << 20  # a records spill this large may cross as a table (see below)
TABLE_MIN_KEYS = 1 << 16  # ... and C sums of this many str keys (see `_flush`)
SAMPLES_PER_PARTITION = 200  # over all map tasks: quantiles within about 7%
MIN_SAMPLES = 20  # per map task


@dataclass(frozen=True)
class MapOutput:
    """What a map task leaves behind for reducers: its runs, in write order, and key samples."""

    runs: tuple[RunInfo, ...]
    samples: tuple[Any, ...] = ()


@dataclass
class ShuffleStats:
    records: int = 0  # fed to the writer (Hadoop's "map output records")
    written: int = 0  # in run files, after map-side combining
    spills: int = 0
    spilled_records: int = 0
    spilled_bytes: int = 0
    bytes: int = 0

    def as_counters(self) -> dict[str, int]:
        return {
            "map.output_records": self.records,
            "shuffle.records_written": self.written,
            "shuffle.bytes_written": self.bytes,
            "shuffle.spills": self.spills,
            "shuffle.spilled_records": self.spilled_records,
            "shuffle.spilled_bytes": self.spilled_bytes,
        }


@dataclass
class ShuffleWriter:
    """Base writer: subclasses fill the buffer in `write_batch` and empty it in `_flush`."""

    output: ShuffleOutput
    map_index: int
    run_dir: str
    memory: int
    attempt: int = 1
    map_tasks: int = 1  # in the stage: a sort's key sample is shared out among them
    compress_blocks: bool = False  # a block sort's runs are lz4-compressed too
    stats: ShuffleStats = field(default_factory=ShuffleStats)
    sizer: SizeEstimator = field(default_factory=SizeEstimator)
    runs: list[RunInfo] = field(default_factory=list)

    def __post_init__(self) -> None:
        """Subclasses set up their buffers here."""

    @property
    def limit(self) -> int:
        return int(self.memory * BUFFER_SHARE)

    def write(self, batch: Any) -> None:
        """Feed one output batch; columnar ones become records unless this writer takes them."""
        if type(batch) is not list and not self.takes(batch):
            batch = as_records(batch)
        self.write_batch(batch)

    def takes(self, batch: Any) -> bool:
        """Whether `write_batch` handles this block or table as it is."""
        return False

    @property
    def wants_count(self) -> bool:
        """Whether `fold` is faster when told how many records are coming."""
        return False

    def fold(self, records: Iterator[Any], count: int | None = None) -> None:
        """Feed the records an iterator makes (`count` of them, if known); writers that
        combine them one at a time (`folds`) never hold them as a list."""
        batch = list(records)
        if batch:
            self.write_batch(batch)

    def write_batch(self, batch: list[Any]) -> None:
        raise NotImplementedError

    def _flush(self, writer: RunWriter) -> Family:
        """Write the buffer into `writer`, clear it, return how its keys were sorted."""
        raise NotImplementedError

    def _buffered(self) -> int:
        raise NotImplementedError

    def _frame_records(self) -> int:
        return max(1, min(16384, FRAME_BYTES // max(1, self.sizer.mean)))

    def spill(self, *, final: bool = False) -> None:
        if not self._buffered():
            return
        path = os.path.join(
            self.run_dir, f"map-{self.map_index:05d}-a{self.attempt}-r{len(self.runs):03d}.run"
        )
        writer = self._run_writer(path)
        try:
            family = self._flush(writer)
            inject("spill")
            info = writer.close(family=family)  # flushes the last buffered frames
        except BaseException:
            writer.abort()
            raise
        self.runs.append(info)
        self.stats.bytes += info.bytes
        self.stats.written += info.records
        if not final:
            self.stats.spills += 1
            self.stats.spilled_records += info.records
            self.stats.spilled_bytes += info.bytes

    def _run_writer(self, path: str) -> RunWriter:
        return RunWriter(path, keep_keys=self.output.spec.kind is ShuffleKind.SORT)

    def close(self) -> MapOutput:
        self.spill(final=True)
        return MapOutput(tuple(self.runs), self._samples())

    def abort(self) -> None:
        for run in self.runs:
            if os.path.exists(run.path):
                os.unlink(run.path)

    def _samples(self) -> tuple[Any, ...]:
        return ()

    def _write_partition(self, writer: RunWriter, partition: int, records: list[Any]) -> None:
        step = self._frame_records()
        for start in range(0, len(records), step):
            writer.write_frame(partition, records[start : start + step])


class KeySampler:
    """Sort keys sampled from a map task's input, for the driver's range boundaries.

    Systematic sampling with a stride that doubles as the sample fills: deterministic (no RNG),
    cheap, and spread evenly over the whole map input however long it is.
    """

    def __init__(self, num_partitions: int, map_tasks: int = 1) -> None:
        # The driver sorts every map task's sample: a per-task target of 20 per partition made
        # that 20 * N * M keys, a million at 10GB (N = M = 215) and seconds of idle workers.
        # As Spark's RangePartitioner, aim at a total per partition and share it out.
        share = -(-SAMPLES_PER_PARTITION * num_partitions // max(1, map_tasks))
        self.target = max(MIN_SAMPLES, share)
        self.sample: list[Any] = []
        self.seen = 0
        self.stride = 1

    def picks(self, count: int) -> slice:
        """Which of the next `count` records to sample (the stride widens first if needed)."""
        while len(self.sample) + count // self.stride >= 2 * self.target:
            self._thin()
        return slice((-self.seen) % self.stride, count, self.stride)

    def _thin(self) -> None:
        # Samples sit at input positions that are multiples of the stride; every other one
        # sits at a multiple of twice the stride, so the sample stays systematic.
        self.sample = self.sample[::2]
        self.stride *= 2

    def extend(self, keys: list[Any], count: int) -> None:
        """Add the keys picked out of the next `count` records."""
        self.sample.extend(keys)
        self.seen += count
        while len(self.sample) >= 2 * self.target:
            self._thin()


class CombineWriter(ShuffleWriter):
    """Hash aggregation for reduce/combine/count: one accumulator per distinct key.

    Counting keeps a `Counter` for records and, for one-column pyarrow tables, arrow counts
    (`ArrowCounts`); both meet at the spill.
    """

    def __post_init__(self) -> None:
        self.acc: dict[Any, Any] = Counter() if self._counting else {}
        # A pile of about one batch at default budgets: counted while its words are still in
        # cache (two workers share the L3; a 32MB pile measured 7% slower at 2 workers).
        self.arrow = ArrowCounts(pending_bytes=self.limit // 256)
        # reduce_by_key(operator.add) of (key, value) tables: summed as tables (`arrow_sums`)
        summed = not self._counting and summing(self.output.spec.aggregator)
        self.sums = ArrowSums(self.limit // 256, adaptive=True) if summed else None
        # ... and records of str keys and int values, summed in C while the pairs are such;
        # the first other pair moves them into `acc`, where the rest of the spill goes.
        self.strs = new_str_sums() if self._summable else None

    @property
    def _counting(self) -> bool:
        return self.output.spec.kind is ShuffleKind.COUNT

    def _worth_a_table(self) -> bool:
        # Importing pyarrow costs a worker ~30MB and ~0.1 s: a small job's spill (a 1KB
        # word count, a 32MB budget) stays pure Python, a large one's sheds more than that,
        # as do the many keys of C sums where the budget has room for the import.
        if "pyarrow" in sys.modules or self._buffered() >= TABLE_MIN_BYTES:
            return True
        strs = 0 if self.strs is None else len(self.strs)
        return strs >= TABLE_MIN_KEYS and self.limit >= TABLE_MIN_BYTES

    @property
    def _summable(self) -> bool:
        """Whether the reducers sum tables for this shuffle (counts and operator.add)."""
        return self._counting or self.sums is not None

    def takes(self, batch: Any) -> bool:
        return self._counting and is_table(batch) and self.arrow.accepts(batch)

    def write(self, batch: Any) -> None:
        sums = self.sums
        if sums is not None and is_table(batch) and not self.acc and not self._strs_held:
            table = sums.accepts(batch)
            if table is not None:
                self.stats.records += table.num_rows
                sums.add(table)
                # Capped too: a sum or partition of more key text than int32 offsets hold fails.
                if self._buffered() > self.limit or sums.nbytes > arrow_sums.MAX_COMBINED:
                    self.spill()
                return
        self._sums_to_records()
        super().write(batch)

    def _sums_to_records(self) -> None:
        """Once records arrive, the sums held so far join them first: keys are then kept as
        they came first, as with records alone (1 before 1.0 keeps 1)."""
        table = None if self.sums is None else self.sums.take(final=False)
        if table is not None:
            self._combine(arrow_sums.pairs(table))

    def write_batch(self, batch: Any) -> None:
        if is_table(batch):
            self.stats.records += batch.num_rows
            self.arrow.add(batch)
        elif self._counting:
            self.sizer.observe(batch)
            self._count(iter(batch))
        else:
            self.sizer.observe(batch)
            check_pair(batch[0], self.output.spec.kind)
            self.stats.records += self._combine(batch)
        if self._buffered() > self.limit:
            self.spill()

    @property
    def _strs_held(self) -> bool:
        return self.strs is not None and len(self.strs) > 0

    def _take_strs(self, items: Iterator[Any]) -> tuple[int, Iterator[Any] | None]:
        """Sum `items` in the C table while it holds them and `acc` is empty; returns how
        many it took and what is left for `acc` (None: nothing), the table's sums moved
        there first (or spilled, when a dict of them would not fit the budget)."""
        strs = self.strs
        if strs is None or self.acc:
            return 0, items
        taken, rest = take_str_sums(strs, items, counting=self._counting)
        if rest is not None:
            if self._dict_bytes(len(strs)) > self.limit:
                # Budgeted as a table, too many sums for a dict: they spill as they are.
                self.spill()
            else:
                self._strs_to_acc()
        return taken, rest

    def _count(self, keys: Iterator[Any]) -> None:
        taken, rest = self._take_strs(keys)
        self.stats.records += taken
        if rest is not None:  # Counter counts in C; these records are added up at the spill
            self.acc.update(rest)

    def _strs_to_acc(self) -> None:
        """The C table's sums into `acc` (empty until now: its keys came first)."""
        assert self.strs is not None and not self.acc
        self.strs.drain_into(self.acc)
        if self._counting:  # counted as they came: the spill adds up `acc`'s counts again
            self.stats.records -= sum(self.acc.values())

    @property
    def wants_count(self) -> bool:
        # Counter.update and the C fold count as they go; only the Python fold loop, told
        # the count, drops its enumerate.
        return not self._counting and needs_count()

    def fold(self, records: Iterator[Any], count: int | None = None) -> None:
        # The first record is sampled and checked alone: wrapping the rest in a chain with a
        # sampled head would cost every record a C call more.
        first = next(records, _MISSING)
        if first is _MISSING:
            return
        self._sums_to_records()
        self.sizer.observe([first])
        if self._counting:
            self._count(iter((first,)))
            self._count(records)
        else:
            check_pair(first, self.output.spec.kind)
            rest = None if count is None else count - 1
            self.stats.records += self._combine((first,)) + self._combine(records, rest)
        if self._buffered() > self.limit:
            self.spill()

    def _combine(self, pairs: Iterable[Any], count: int | None = None) -> int:
        """Fold `pairs` into the accumulators; returns how many there were."""
        agg = self.output.spec.aggregator
        assert agg is not None
        if self.strs is None or self.acc:
            return fold_pairs(self.acc, pairs, agg.add, agg.create, count)
        taken, rest = self._take_strs(iter(pairs))
        return taken if rest is None else taken + fold_pairs(self.acc, rest, agg.add, agg.create)

    def _dict_bytes(self, entries: int) -> int:
        # A Counter's entries take 32 bytes more (its records are added up at the spill).
        return self.sizer.table_bytes(entries, 32 if self._counting else 0)

    def _buffered(self) -> int:
        # Arrow rows are compact, but each becomes a Python pair at the spill: budget for that.
        entries = len(self.acc) + len(self.arrow)
        tables = 0 if self.sums is None else self.sums.nbytes
        strs = 0
        if self._strs_held:
            assert self.strs is not None
            # Budgeted as the dict a spill of records makes of them (~5x the bytes of the
            # table's arrays), unless they may cross as a table (see `_flush`).
            alone = not len(self.arrow) and not self.arrow.pending_bytes
            tables_ok = alone and ("pyarrow" in sys.modules or self.limit >= TABLE_MIN_BYTES)
            held = len(self.strs)
            # A table's spill reorders a copy of it by partition: twice its arrays at the peak.
            strs = 2 * self.strs.nbytes if tables_ok else self._dict_bytes(held)
        return self._dict_bytes(entries) + self.arrow.pending_bytes + tables + strs

    def _flush(self, writer: RunWriter) -> Family:
        table = None if self.sums is None else self.sums.take(final=False)
        if table is not None:  # sums alone (records would have taken them in)
            return self._flush_table(writer, table)
        if self._strs_held:
            assert self.strs is not None
            alone = not len(self.arrow) and not self.arrow.pending_bytes
            # Many keys cross as a table (partitioned, sorted and framed in C++; the reducers
            # sum them as tables); a few stay records: importing pyarrow costs a worker more.
            if alone and self._worth_a_table():
                table = arrow_sums.table_of_buffers(*self.strs.take_buffers())
                return self._flush_table(writer, table)
            self._strs_to_acc()
        if self._counting:  # one per record: the counts add up to the records counted
            self.stats.records += sum(self.acc.values())
        pairs: Iterable[tuple[Any, Any]] = self.acc.items()
        counted: list[tuple[Any, Any]] = []
        counts = self.arrow.take() if len(self.arrow) or self.arrow.pending_bytes else None
        if counts is not None:
            table = None if self.acc else arrow_sums.summable(counts)
            if table is not None:  # counted as tables alone: they go on as tables
                return self._flush_table(writer, table)
            counted = list(arrow_sums.pairs(counts))
            self.sizer.observe(counted)
            if self.acc:
                acc = self.acc
                for key, n in counted:
                    acc[key] = acc.get(key, 0) + n
                counted = []
            else:
                pairs = counted  # nothing counted as records: the arrow counts are the pairs
        if self.acc and not counted and self._summable and self._worth_a_table():
            table = arrow_sums.table_of(self.acc)
            if table is not None:  # str keys and int sums: they cross as a table
                self.acc.clear()
                return self._flush_table(writer, table)
        family = key_family(list(self.acc)) if self.acc else pairs_family(counted)
        del counted
        buckets = bucket_pairs(pairs, self.output.num_partitions)
        del pairs
        self.acc.clear()
        # Reducers hash these runs, so their order does not matter; only keys that trust a
        # type's own `<` are sorted, as the test that it is total (the reducer sorts them).
        if sort_verifies(family):
            family = sort_runs(buckets, family)
        for partition, pairs in enumerate(buckets):
            self._write_partition(writer, partition, pairs)
        return family

    def _flush_table(self, writer: RunWriter, table: pa.Table) -> Family:
        """Write sums held as a table, each partition's rows as table frames."""
        for partition, rows in arrow_sums.partitioned(table, self.output.num_partitions):
            for piece in arrow_sums.slices(rows):
                writer.write_frame(partition, piece)
        return key_family(table.column(0).slice(0, 1).to_pylist())


class _Missing:
    pass


_MISSING: Any = _Missing()


class SortWriter(ShuffleWriter):
    """Buffers pairs, sorts them at each spill: hash-partitioned for group, ranged for sort."""

    def __post_init__(self) -> None:
        self.buffer: list[tuple[Any, Any]] = []
        self.sampler = KeySampler(self.output.num_partitions, self.map_tasks)

    @property
    def _sorting(self) -> bool:
        return self.output.spec.kind is ShuffleKind.SORT

    def write_batch(self, batch: list[Any]) -> None:
        if self._sorting:
            key_fn: Callable[[Any], Any] = self.output.spec.sort_key or _identity
            batch = [(key_fn(record), record) for record in batch]
            picked = batch[self.sampler.picks(len(batch))]
            self.sampler.extend([pair[0] for pair in picked], len(batch))
        else:
            check_pair(batch[0], self.output.spec.kind)
        self.stats.records += len(batch)
        self.sizer.observe(batch)
        self.buffer.extend(batch)
        if self._buffered() > self.limit:
            self.spill()

    def _samples(self) -> tuple[Any, ...]:
        return tuple(self.sampler.sample)

    def _buffered(self) -> int:
        return len(self.buffer) * (self.sizer.mean + 8)

    def _flush(self, writer: RunWriter) -> Family:
        buffer, self.buffer = self.buffer, []
        if self._sorting:
            family = sort_pairs(buffer, reverse=not self.output.spec.ascending)
            self._write_partition(writer, 0, buffer)
            return family
        value_key = self.output.spec.value_key
        family = pairs_family(buffer, value_key)
        buckets = bucket_pairs(buffer, self.output.num_partitions)
        del buffer
        family = sort_runs(buckets, family, value_key=value_key)
        for partition, pairs in enumerate(buckets):
            self._write_partition(writer, partition, pairs)
        return family


def check_pair(record: Any, kind: ShuffleKind) -> None:
    """Keyed shuffles need (key, value) pairs; say so plainly instead of mis-grouping."""
    if not (isinstance(record, tuple) and len(record) == 2):
        raise TypeError(
            f"{kind.value} shuffle expects (key, value) pairs, got {type(record).__name__}: "
            f"{record!r:.200}"
        )


def _identity(record: Any) -> Any:
    return record


class RepartitionWriter(ShuffleWriter):
    """Round-robin buckets starting at the map index; record order within a map task is kept."""

    def __post_init__(self) -> None:
        self.buckets: list[list[Any]] = [[] for _ in range(self.output.num_partitions)]
        self.buffered_records = 0

    def write_batch(self, batch: list[Any]) -> None:
        n = self.output.num_partitions
        start = self.map_index + self.stats.records
        for j in range(min(n, len(batch))):
            self.buckets[(start + j) % n].extend(batch[j::n])
        self.stats.records += len(batch)
        self.buffered_records += len(batch)
        self.sizer.observe(batch)
        if self._buffered() > self.limit:
            self.spill()

    def _buffered(self) -> int:
        return self.buffered_records * (self.sizer.mean + 8)

    def _flush(self, writer: RunWriter) -> Family:
        for partition, records in enumerate(self.buckets):
            self._write_partition(writer, partition, records)
            records.clear()
        self.buffered_records = 0
        return UNSORTED


def folds(output: ShuffleOutput | None) -> bool:
    """Whether `output`'s writer folds records one at a time (`fold` takes an iterator with
    no list built): the hash aggregation of reduce_by_key, combine_by_key, count_by_value."""
    return output is not None and output.spec.kind in (ShuffleKind.AGGREGATE, ShuffleKind.COUNT)


def make_writer(
    output: ShuffleOutput,
    map_index: int,
    run_dir: str,
    memory: int,
    attempt: int,
    *,
    blocks: bool = False,
    map_tasks: int = 1,
    compress_blocks: bool = False,
) -> ShuffleWriter:
    """The writer for `output`'s shuffle kind; `blocks`: the task emits binary record blocks;
    `map_tasks`: how many tasks write this shuffle; `compress_blocks`: lz4 for block runs."""
    from gristmill.shuffle.blocks import BlockSortWriter, block_sortable  # builds on this module

    kind = output.spec.kind
    cls: type[ShuffleWriter]
    if blocks and block_sortable(output.spec):
        cls = BlockSortWriter
    elif folds(output):  # the task decides whether to fold by the same test
        cls = CombineWriter
    elif kind in (ShuffleKind.GROUP, ShuffleKind.SORT):
        cls = SortWriter
    else:
        cls = RepartitionWriter
    return cls(output, map_index, run_dir, memory, attempt, map_tasks, compress_blocks)
