"""Columnar ``reduce_by_key(operator.add)``: integer values summed per key in C++, both sides.

When a map task's output is ``(key, value)`` pyarrow tables (the columns ``key`` and
``value``, as `map_batches` documents) with string or integer keys and integer values, no
record becomes a Python object on either side of the shuffle:

- the map side sums piles of tables with a hash ``group_by``, splits the sums by the same
  hash records are partitioned by (`stable_hash`: CRC-32 of the UTF-8 bytes, Python's
  ``hash`` of an int), so one shuffle may carry tables and records alike, and writes each
  partition's rows as a table frame;
- the reducer sums its partition's table frames the same way and hands on the sums as a
  table sorted by key (byte order of UTF-8 is code point order: the order records sort in).

Python ints never overflow and int64 sums can, so each accumulator keeps a bound on the sum
of the absolute values it took (the largest magnitude times the rows, per table) and refuses
a table that could take it past int64: that table goes the records' way, exactly.

Keys that barely repeat are not worth summing pile by pile (a high-cardinality key sums
~1.03 rows into each): an accumulator sums its first `MIN_PILE_ROWS` rows alone and, if that
leaves more than `UNIQUE_RATIO` of them, stops summing piles, as Trino's adaptive partial
aggregation does (100,000 rows, a unique-rows ratio of 0.8). A map task then ships rows as
they come; a reducer sums everything once, at the end.
"""

from __future__ import annotations

import operator
import sys
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from gristmill.plan.logical import Aggregator

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

KEY, VALUE = "key", "value"
MERGE_EVERY = 16  # partial sums merged at once: amortises group_by, bounds the pile
UNIQUE_RATIO = 0.8  # a first pile summing to more rows than this stops the map-side combine
MIN_PILE_ROWS = 100_000  # ... the first pile's rows
TABLE_ROWS = 65536  # rows per frame and per batch handed on
PAIR_ROWS = 4096  # rows made Python pairs at once (a spill's, or a mix with records)
SORT_WORDS = 4  # keys of up to 32 bytes are sorted as words by numpy (see `_key_words`)
MAX_COMBINED = 1 << 30  # bytes of a key column made one array: well inside int32 offsets
_INT64_MAX = (1 << 63) - 1
_HASH_MODULUS = (1 << 61) - 1  # CPython's hash of an int is the int modulo this


def summing(agg: Aggregator | None) -> bool:
    """Whether `agg` is ``reduce_by_key(operator.add)`` (or a count): what tables can sum.

    >>> import operator
    >>> summing(Aggregator(operator.add, operator.add)), summing(Aggregator(max, max))
    (True, False)
    """
    return (
        agg is not None
        and agg.create is None
        and agg.add is operator.add
        and agg.merge is operator.add
    )


def summable(table: pa.Table) -> pa.Table | None:
    """`table` as ``key`` (string or int64) and ``value`` (int64) columns, or None if its
    sums would not be the records' sums (other columns or types, nulls, uint64).

    >>> import pyarrow as pa
    >>> summable(pa.table({"key": ["a"], "value": pa.array([1], pa.int8())})).schema.types
    [DataType(string), DataType(int64)]
    >>> summable(pa.table({"key": ["a"], "value": [1.5]})) is None
    True
    """
    import pyarrow as pa

    if table.column_names != [KEY, VALUE]:
        return None
    key, value = table.schema.types
    if pa.types.is_string(key) or pa.types.is_large_string(key):
        key_type = pa.string()
    elif _plain_int(key):
        key_type = pa.int64()
    else:
        return None
    if not _plain_int(value) or table.column(0).null_count or table.column(1).null_count:
        return None  # None + 1 fails as a record: let it fail there, naming it
    # One schema for every table summed together, nullable as group_by's output is, and
    # without metadata: concat_tables takes only equal schemas.
    normal = pa.schema([(KEY, key_type), (VALUE, pa.int64())])
    if not table.schema.equals(normal, check_metadata=True):
        table = table.cast(normal).replace_schema_metadata(None)
    return table


def _plain_int(kind: pa.DataType) -> bool:
    import pyarrow as pa

    # uint64 may exceed int64; bool is not an integer type to pyarrow (True + True is 2).
    return bool(pa.types.is_integer(kind)) and kind != pa.uint64()


def table_of(acc: dict[Any, Any]) -> pa.Table | None:
    """A dict of str keys and int sums as a ``key``/``value`` table, or None if it holds
    anything else (its keys and values are checked by type in C first: a str subclass, a
    bool or an int past int64 goes as records).

    >>> table_of({"a": 1, "b": 2}).to_pydict(), table_of({"a": True})
    ({'key': ['a', 'b'], 'value': [1, 2]}, None)
    """
    import pyarrow as pa

    if set(map(type, acc)) != {str} or set(map(type, acc.values())) != {int}:
        return None
    try:
        keys = pa.array(list(acc), pa.string())
        values = pa.array(list(acc.values()), pa.int64())
    except (OverflowError, UnicodeEncodeError, pa.ArrowException):  # big ints, surrogates
        return None
    if isinstance(keys, pa.ChunkedArray):  # 2GB of key text and more: int32 offsets end
        return None
    return pa.table({KEY: keys, VALUE: values})


def table_of_buffers(offsets: Any, data: Any, values: Any) -> pa.Table:
    """A ``key``/``value`` table over Arrow's buffers of a string and an int64 column (what
    `StrSums.take_buffers` hands over: any objects with the buffer protocol), without copying
    them.

    >>> import struct
    >>> offsets, values = struct.pack("3i", 0, 1, 3), struct.pack("2q", 5, 7)
    >>> table_of_buffers(offsets, b"abc", values).to_pydict()
    {'key': ['a', 'bc'], 'value': [5, 7]}
    """
    import pyarrow as pa

    rows = len(values) // 8
    text = [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    keys = pa.Array.from_buffers(pa.string(), rows, text)
    sums = pa.Array.from_buffers(pa.int64(), rows, [None, pa.py_buffer(values)])
    return pa.table({KEY: keys, VALUE: sums})


def magnitude_bound(values: Any) -> int:
    """An upper bound on the absolute value of any sum of `values`' elements."""
    import pyarrow.compute as pc

    if not len(values):
        return 0
    low, high = pc.min_max(values).values()
    return int(max(abs(low.as_py()), abs(high.as_py())) * len(values))


class ArrowSums:
    """Sums of int64 values per key, kept as arrow tables of ``key`` and ``value``.

    Tables wait in a pile of up to `pending_bytes` and are summed together; the partial sums
    are merged every `MERGE_EVERY` piles, so memory follows the distinct keys. With
    `adaptive`, a pile of barely repeating keys turns the summing off (see the module).
    """

    def __init__(self, pending_bytes: int = 8 << 20, *, adaptive: bool = False) -> None:
        self._pending: list[pa.Table] = []
        self._parts: list[pa.Table] = []
        self._schema: pa.Schema | None = None
        self._pending_limit = pending_bytes
        self._adaptive = adaptive
        self.combining = True
        self._judged = not adaptive  # whether the first pile was summed (see the module)
        self.pending_bytes = 0
        self._pending_rows = 0
        self.bound = 0  # no sum held here can exceed this in magnitude

    def accepts(self, table: pa.Table) -> pa.Table | None:
        """`table` normalised (see `summable`) if it can be summed here, else None: of the
        schema summed so far, and not able to overflow what is held."""
        normal = summable(table)
        if normal is None or self._schema not in (None, normal.schema):
            return None
        if self.bound + magnitude_bound(normal.column(1)) > _INT64_MAX:
            return None
        return normal

    def add(self, table: pa.Table) -> None:
        """Take a table `accepts` returned."""
        self.bound += magnitude_bound(table.column(1))
        self._schema = table.schema
        self._pending.append(table)
        self.pending_bytes += table.nbytes
        self._pending_rows += table.num_rows
        first_pile = not self._judged and self._pending_rows >= MIN_PILE_ROWS
        if first_pile or self.pending_bytes >= self._pending_limit:
            self._sum_pending()

    def _sum_pending(self) -> None:
        if not self._pending:
            return
        import pyarrow as pa

        pile = pa.concat_tables(self._pending)
        self._pending, self.pending_bytes, self._pending_rows = [], 0, 0
        if self.combining:
            summed = _sum(pile)
            if not self._judged and pile.num_rows >= MIN_PILE_ROWS:
                self.combining = summed.num_rows <= UNIQUE_RATIO * pile.num_rows
                self._judged = True
            pile = summed
        self._parts.append(pile)
        if self.combining and len(self._parts) >= MERGE_EVERY:
            self._parts = [_sum(pa.concat_tables(self._parts))]

    def __len__(self) -> int:
        """Rows held (pending tables are not counted yet: see `pending_bytes`)."""
        return sum(part.num_rows for part in self._parts)

    @property
    def nbytes(self) -> int:
        return int(sum(part.nbytes for part in self._parts)) + self.pending_bytes

    def take(self, *, final: bool) -> pa.Table | None:
        """Everything held as one table, emptying this (None if nothing was added); `final`:
        one row per key (a reducer's), else partial sums are fine (a map task's)."""
        if self._schema is None:  # nothing taken: pyarrow is not even imported
            return None
        import pyarrow as pa

        self._sum_pending()
        parts, self._parts = self._parts, []
        schema, self._schema, self.bound = self._schema, None, 0
        if final and len(parts) == 1 and self.combining:
            return parts[0]  # one pile, summed: one row per key already
        table = pa.concat_tables(parts) if parts else schema.empty_table()
        return _sum(table) if final else table


def _sum(table: pa.Table) -> pa.Table:
    summed = table.group_by(KEY, use_threads=False).aggregate([(VALUE, "sum")])
    # aggregate() puts the aggregates before the keys: select by name, not position
    return summed.select([KEY, f"{VALUE}_sum"]).rename_columns([KEY, VALUE])


def sort_by_key(table: pa.Table) -> pa.Table:
    """`table` sorted by key, in the order its keys sort in as Python values.

    >>> import pyarrow as pa
    >>> sort_by_key(pa.table({"key": ["b", "a\\x00", "a"], "value": [1, 2, 3]}))["key"].to_pylist()
    ['a', 'a\\x00', 'b']
    """
    import numpy as np
    import pyarrow as pa

    column = table.column(0)
    if column.nbytes > MAX_COMBINED:  # int32 offsets cannot hold it as one array
        return table.sort_by([(KEY, "ascending")])
    keys = column.combine_chunks()
    if pa.types.is_large_string(keys.type):
        keys = keys.cast(pa.string())
    if pa.types.is_string(keys.type):
        words = _key_words(keys)
        if words is None:  # long keys: pyarrow's comparison sort
            return table.sort_by([(KEY, "ascending")])
        order = np.lexsort(words)
    else:
        order = np.argsort(keys.to_numpy(), kind="stable")
    return table.take(order)


def _key_words(keys: pa.Array) -> list[np.ndarray] | None:
    """Sort keys for `np.lexsort` (least significant first) that order UTF-8 strings as
    their bytes do: each key's bytes in big-endian 8-byte words, padded with zeros, then its
    length. Padding ties a key with itself plus NULs (``"a"``, ``"a\\x00"``); the length,
    compared last, puts the shorter first, as the byte order does. None for keys longer
    than `SORT_WORDS` words (pyarrow's sort costs less there), or without the C extension."""
    import numpy as np

    try:
        from gristmill.shuffle._strings import pad_each
    except ImportError:  # installed without a C compiler
        return None
    _, offsets, data = keys.buffers()
    starts = np.frombuffer(offsets, dtype=np.int32)[keys.offset : keys.offset + len(keys) + 1]
    lengths = np.diff(starts)
    width = -(-int(lengths.max()) // 8) * 8 if len(keys) else 0
    if not width or width > 8 * SORT_WORDS:
        return None
    rows = np.empty((len(keys), width), dtype=np.uint8)
    pad_each(starts, data, rows)
    words = rows.view(np.uint64)
    if sys.byteorder == "little":  # native words sort faster than big-endian ones
        words.byteswap(inplace=True)  # in place: the sort's scratch is a reducer's peak
    return [lengths, *(words[:, i] for i in reversed(range(width // 8)))]


def release_freed() -> None:
    """Hand pyarrow's freed memory back to the system: its allocator (mimalloc) keeps freed
    pages for reuse, which a spill's Python objects, made next, cannot use (a 32MB budget's
    worker peaked 4MB lower with this)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def pairs(table: pa.Table) -> Iterator[tuple[Any, Any]]:
    """`table`'s rows as ``(key, value)`` records."""
    for batch in table.to_batches(PAIR_ROWS):
        yield from zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True)


def slices(table: pa.Table, rows: int = TABLE_ROWS) -> Iterator[pa.Table]:
    """`table` in pieces of at most `rows` rows."""
    for start in range(0, table.num_rows, rows):
        yield table.slice(start, rows)


def partitioned(table: pa.Table, partitions: int) -> Iterator[tuple[int, pa.Table]]:
    """The non-empty ``(partition, rows)`` of `table` by its keys' hash partitions, the ones
    `bucket_pairs` gives the same keys as records."""
    import numpy as np

    ids = partition_ids(table.column(0), partitions)
    if partitions <= 1 << 16:  # numpy's stable sort of 16-bit ints is a radix sort: 9x faster
        ids = ids.astype(np.uint16)
    order = np.argsort(ids, kind="stable")
    counts = np.bincount(ids, minlength=partitions)
    ordered = table.take(order)
    start = 0
    for partition, count in enumerate(counts.tolist()):
        if count:
            yield partition, ordered.slice(start, count)
        start += count


def partition_ids(keys: pa.ChunkedArray, partitions: int) -> np.ndarray:
    """``stable_hash(key) % partitions`` for each key (string or int64), vectorised.

    >>> import pyarrow as pa
    >>> from gristmill.shuffle.keys import stable_hash
    >>> keys = pa.chunked_array([["a", "word"], ["é"]])
    >>> partition_ids(keys, 7).tolist() == [stable_hash(k) % 7 for k in ["a", "word", "é"]]
    True
    """
    import numpy as np
    import pyarrow as pa

    if isinstance(keys, pa.ChunkedArray):  # chunk by chunk: together they may pass 2GB
        parts = [partition_ids(chunk, partitions) for chunk in keys.chunks]
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.intp)
    column = keys
    if pa.types.is_large_string(column.type) or pa.types.is_integer(column.type):
        column = column.cast(pa.string() if pa.types.is_large_string(column.type) else pa.int64())
    if pa.types.is_string(column.type):
        hashes = _crc32_each(column).astype(np.uint64)
    else:
        hashes = _int_hashes(column.to_numpy(zero_copy_only=False))
    return (hashes % np.uint64(partitions)).astype(np.intp)


def _crc32_each(column: pa.Array) -> np.ndarray:
    import numpy as np

    out = np.empty(len(column), dtype=np.uint32)
    if not len(column):
        return out
    _, offsets, data = column.buffers()
    positions = np.frombuffer(offsets, dtype=np.int32)
    positions = positions[column.offset : column.offset + len(column) + 1]
    try:
        from gristmill.shuffle._strings import crc32_each
    except ImportError:  # installed without a C compiler: a Python call per key
        return np.fromiter(
            (zlib.crc32(b) for b in column.cast("binary").to_pylist()), np.uint32, len(column)
        )
    crc32_each(positions, b"" if data is None else data, out)
    return out


def _int_hashes(values: np.ndarray) -> np.ndarray:
    """CPython's ``hash(int(v)) & (2**64 - 1)`` for int64 `values`: ``v mod (2**61 - 1)``
    with the sign of `v`, and -1 (the C API's error value) made -2."""
    import numpy as np

    unsigned = values.view(np.uint64)
    negative = values < 0
    magnitude = np.where(negative, np.uint64(0) - unsigned, unsigned) % np.uint64(_HASH_MODULUS)
    hashed = np.where(negative, np.uint64(0) - magnitude, magnitude)
    hashed[negative & (magnitude == 1)] = np.uint64((1 << 64) - 2)
    return hashed
