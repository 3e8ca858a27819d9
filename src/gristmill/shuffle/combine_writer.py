"""Map side of a combinable shuffle (reduce, combine, count): hash aggregation.

One accumulator per distinct key: a dict (a `Counter` for counts), a C table of int sums by
str key (`_strsums.c`) while records are exactly str keys and int values, and for pyarrow
tables of counts or of (key, value) int sums, tables (`arrow_counts`, `arrow_sums`). Spills
go by partition, unsorted, since reducers hash too; sums of str or int keys cross as table
frames where that pays for pyarrow.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from gristmill.io.columnar import is_table
from gristmill.plan.logical import ShuffleKind
from gristmill.shuffle import arrow_sums
from gristmill.shuffle.arrow_counts import ArrowCounts
from gristmill.shuffle.arrow_sums import ArrowSums, summing
from gristmill.shuffle.fold import (
    fold_pairs,
    needs_count,
    new_str_sums,
    take_str_sums,
)
from gristmill.shuffle.keys import bucket_pairs
from gristmill.shuffle.order import Family, key_family, pairs_family, sort_runs, sort_verifies
from gristmill.shuffle.runfile import RunWriter
from gristmill.shuffle.writer import MISSING, ShuffleWriter, check_pair

if TYPE_CHECKING:
    import pyarrow as pa

TABLE_MIN_BYTES = 64 << 20  # a records spill this large may cross as a table (see below)
TABLE_MIN_KEYS = 1 << 16  # ... and C sums of this many str keys (see `_flush`)


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

    @property
    def _no_arrow_counts(self) -> bool:
        """Whether no table of counts is held: C sums may then cross as a table alone."""
        return not len(self.arrow) and not self.arrow.pending_bytes

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
        first = next(records, MISSING)
        if first is MISSING:
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
            may_cross = "pyarrow" in sys.modules or self.limit >= TABLE_MIN_BYTES
            tables_ok = self._no_arrow_counts and may_cross
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
            # Many keys cross as a table (partitioned, sorted and framed in C++; the reducers
            # sum them as tables); a few stay records: importing pyarrow costs a worker more.
            if self._no_arrow_counts and self._worth_a_table():
                table = arrow_sums.table_of_buffers(*self.strs.take_buffers())
                return self._flush_table(writer, table)
            self._strs_to_acc()
        if self._counting:  # one per record: the counts add up to the records counted
            self.stats.records += sum(self.acc.values())
        pairs: Iterable[tuple[Any, Any]] = self.acc.items()
        counted: list[tuple[Any, Any]] = []
        counts = None if self._no_arrow_counts else self.arrow.take()
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
