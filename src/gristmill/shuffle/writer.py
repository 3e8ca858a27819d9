"""Map side of a shuffle: buffer records, combine or sort them, spill runs when memory is full.

One writer per map task. Combinable shuffles aggregate by hashing (`combine_writer`) and
spill by partition, unsorted, since their reducers hash too; grouping and sorting shuffles
buffer pairs and sort each spill; repartition only buckets. A sorted spill's frames are ordered
by partition then key, which is what lets reducers stream a k-way merge without holding a
partition in memory.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from gristmill.faults import inject
from gristmill.io.columnar import as_records
from gristmill.plan.logical import ShuffleKind
from gristmill.plan.stages import ShuffleOutput
from gristmill.shuffle.keys import bucket_pairs
from gristmill.shuffle.marks import mark_failing
from gristmill.shuffle.order import (
    UNSORTED,
    Family,
    pairs_family,
    sort_pairs,
    sort_runs,
)
from gristmill.shuffle.runfile import RunInfo, RunWriter
from gristmill.shuffle.sizing import BUFFER_SHARE, SizeEstimator

FRAME_BYTES = 256 * 1024
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


class _Missing:
    pass


MISSING: Any = _Missing()  # what next() gives an iterator that is done


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
            try:
                batch = [(key_fn(record), record) for record in batch]
            except Exception as exc:
                mark_failing(exc, key_fn, batch, "sort key")
                raise
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
    from gristmill.shuffle.combine_writer import CombineWriter  # so does this one

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
