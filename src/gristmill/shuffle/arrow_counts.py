"""Map-side counting of a columnar batch in C++: ``count_by_value`` on pyarrow tables.

Each batch's one column is counted with ``pyarrow.compute.value_counts``; the partial counts
pile up as small tables and are merged with a hash ``group_by`` every few batches, so the
buffer holds about one row per distinct value. Python objects appear only when the counts
leave for the shuffle, once per distinct value rather than once per record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

MERGE_EVERY = 16  # partial tables merged at once: amortises group_by, bounds the pile
DRAIN_ROWS = 65536


def countable(table: pa.Table) -> bool:
    """Whether `table` is one column whose values arrow can hash (not nested, not null-typed).

    >>> import pyarrow as pa
    >>> countable(pa.table({"item": ["a"]})), countable(pa.table({"item": [[1]]}))
    (True, False)
    """
    import pyarrow as pa

    if table.num_columns != 1:
        return False
    kind = table.schema.types[0]
    return not (pa.types.is_nested(kind) or pa.types.is_null(kind))


class ArrowCounts:
    """Counts of the values of one-column tables, kept as arrow data.

    Columns wait in a pile of up to `pending_bytes` and are counted together: one hash pass
    over several batches collapses more duplicates than counting each batch alone, which
    leaves fewer partial rows to merge.
    """

    def __init__(self, pending_bytes: int = 8 << 20) -> None:
        self._pending: list[pa.ChunkedArray] = []
        self._parts: list[pa.Table] = []
        self._type: pa.DataType | None = None
        self._pending_limit = pending_bytes
        self.pending_bytes = 0  # arrow memory of columns not yet counted

    def accepts(self, table: pa.Table) -> bool:
        """Whether `table` can be counted here: countable, and of the type counted so far."""
        return countable(table) and self._type in (None, table.schema.types[0])

    def add(self, table: pa.Table) -> None:
        """Count the values of `table`'s single column (`accepts` must be true)."""
        self._pending.append(table.column(0))
        self.pending_bytes += table.nbytes
        self._type = table.schema.types[0]
        if self.pending_bytes >= self._pending_limit:
            self._count()

    def _count(self) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        if not self._pending:
            return
        chunks = [chunk for column in self._pending for chunk in column.chunks]
        counts = pc.value_counts(pa.chunked_array(chunks, type=self._type))
        self._pending, self.pending_bytes = [], 0
        part = pa.table({"values": counts.field("values"), "counts": counts.field("counts")})
        self._parts.append(part)
        if len(self._parts) >= MERGE_EVERY:
            self._merge()

    def _merge(self) -> None:
        import pyarrow as pa

        if len(self._parts) < 2:
            return
        merged = pa.concat_tables(self._parts)
        summed = merged.group_by("values", use_threads=False).aggregate([("counts", "sum")])
        # aggregate() puts the aggregates before the keys: select by name, not position
        part = summed.select(["values", "counts_sum"]).rename_columns(["values", "counts"])
        self._parts = [part]

    def __len__(self) -> int:
        """Rows of partial counts (pending columns are not counted yet: see `pending_bytes`)."""
        return sum(part.num_rows for part in self._parts)

    def take(self) -> pa.Table | None:
        """All counts as a table of ``key`` (the values) and ``value`` (their counts),
        emptying them; None if nothing was counted."""
        self._count()
        self._merge()
        parts, self._parts, self._type = self._parts, [], None
        if not parts:
            return None
        return parts[0].rename_columns(["key", "value"])
