"""Parquet files: dict records (a column per key) to part files and back, through pyarrow.

The writer fixes a part file's schema from its first batch and refuses any later batch that
does not match it, naming the column and a record, rather than letting pyarrow cast or drop
data. pyarrow is imported inside functions only. Must not import `runtime` or `api`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from gristmill.io.fs import open_binary
from gristmill.io.splits import FileSplit

ROW_GROUP_ROWS = 64 * 1024  # rows buffered before a row group is written
READ_BATCH_ROWS = 4096  # rows per batch handed to the pipeline when reading


class ParquetSchemaError(TypeError):
    """A batch does not fit the schema of the part file being written."""


def is_table(batch: Any) -> bool:
    """Whether `batch` is already a ``pyarrow.Table`` (columnar user code made it).

    >>> is_table([{"a": 1}])
    False
    """
    cls = type(batch)
    return cls.__name__ == "Table" and cls.__module__.startswith("pyarrow")


def _check_records(records: list[Any], names: list[str]) -> None:
    """Every record is a dict with exactly the columns `names` (in any key order).

    ``Table.from_pylist`` takes its columns from the first record and silently drops keys the
    others add, so the check has to happen here.
    """
    expected = set(names)
    for record in records:
        if not isinstance(record, dict):
            raise ParquetSchemaError(
                "write_parquet writes dict records (a column per key), got "
                f"{type(record).__name__}: {record!r:.80}"
            )
        if record.keys() != expected:
            missing = sorted(expected - record.keys())
            extra = sorted(record.keys() - expected)
            raise ParquetSchemaError(
                f"record {record!r:.120} does not match the part file's columns {names}: "
                f"missing {missing}, unexpected {extra}"
            )


def _offending_record(records: list[dict[str, Any]], column: str, expected: Any) -> Any:
    """The first record whose `column` value is not of the `expected` Arrow type."""
    import pyarrow as pa

    for record in records:
        value = record[column]
        if value is None:
            continue
        try:
            pa.array([value], type=expected)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            return record
        if pa.array([value]).type != expected:
            return record
    return records[0]


def to_table(records: list[Any], schema: Any | None) -> Any:
    """Records (dicts, or ``(key, value)`` pairs: the columns ``key`` and ``value``) as a
    ``pyarrow.Table``; with `schema`, it must match exactly.

    A column that is all null in this batch takes the schema's type (no value is changed).

    >>> to_table([{"a": 1, "b": "x"}], None).schema.names
    ['a', 'b']
    """
    import pyarrow as pa

    if not records:
        raise ValueError("to_table needs at least one record")
    if all(type(r) is tuple and len(r) == 2 for r in records):  # pairs: as tables map them
        records = [{"key": key, "value": value} for key, value in records]
    first = records[0]
    names = list(first) if isinstance(first, dict) else []
    if schema is not None and isinstance(first, dict) and set(names) == set(schema.names):
        names = list(schema.names)
    _check_records(records, names)
    try:
        table = pa.Table.from_pylist(records)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
        raise _mixed_types(records, names, exc) from exc
    table = table.select(names)
    if schema is None:
        return table
    return conform(table, schema, records)


def _mixed_types(records: list[dict[str, Any]], names: list[str], exc: Exception) -> Exception:
    """Name the column and record that made Arrow give up converting a batch."""
    import pyarrow as pa

    for name in names:
        try:
            pa.array([r[name] for r in records])
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            first = next((r for r in records if r[name] is not None), records[0])
            expected = pa.array([first[name]]).type
            record = _offending_record(records, name, expected)
            return ParquetSchemaError(
                f"column {name!r} mixes types within a batch ({expected} first, then "
                f"{type(record[name]).__name__}) at record {record!r:.120}: {exc}"
            )
    return ParquetSchemaError(f"cannot convert records to Arrow: {exc}")


def conform(table: Any, schema: Any, records: list[Any] | None = None) -> Any:
    """`table` with `schema`'s column order, or a `ParquetSchemaError` naming the difference.

    Only all-null columns are cast (to the schema's type); anything else must already match.
    """
    import pyarrow as pa

    if set(table.schema.names) != set(schema.names):
        raise ParquetSchemaError(
            f"batch columns {table.schema.names} do not match the part file's columns "
            f"{schema.names}"
        )
    table = table.select(schema.names)
    for i, field in enumerate(schema):
        got = table.schema.field(i).type
        if got == field.type:
            continue
        column = table.column(i)
        if pa.types.is_null(got) or column.null_count == len(column):
            table = table.set_column(i, field, column.cast(field.type))
            continue
        if records:
            record = _offending_record(records, field.name, field.type)
        else:  # a Table batch: its first row with a value in the column shows the type
            valued = table.filter(column.is_valid()) if column.null_count else table
            record = valued.slice(0, 1).to_pylist()[0]
        where = f" at record {record!r:.120}"
        raise ParquetSchemaError(
            f"column {field.name!r} has type {got} in this batch but {field.type} in the part "
            f"file's schema (fixed by its first batch){where}; convert it in the job instead"
        )
    if table.schema != schema:  # nullability or metadata: take the file's, values are equal
        table = table.cast(schema)
    return table


class ParquetPartWriter:
    """Writes one part file; the file is created with the first non-empty batch.

    An empty partition writes no file, as Spark does for DataFrame writes (Spark writes one
    schema-only file when the whole output is empty; records here carry no schema until one
    arrives, so an empty job's output is ``_SUCCESS`` alone).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.schema: Any = None
        self._writer: Any = None
        self._pending: list[Any] = []
        self._rows = 0

    def write(self, batch: Any) -> int:
        """Add a batch (a list of dicts or a ``pyarrow.Table``); returns its row count."""
        if is_table(batch):
            table = batch if self.schema is None else conform(batch, self.schema)
        elif len(batch):
            table = to_table(batch, self.schema)
        else:
            return 0
        if table.num_rows == 0:
            return 0
        if self.schema is None:
            self.schema = table.schema
        self._pending.append(table)
        self._rows += table.num_rows
        if self._rows >= ROW_GROUP_ROWS:
            self._flush()
        return int(table.num_rows)

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self._pending:
            return
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, self.schema)
        self._writer.write_table(pa.concat_tables(self._pending))
        self._pending, self._rows = [], 0

    def close(self) -> int:
        """Finish the file; returns its size in bytes (0, and no file, if nothing was written)."""
        self._flush()
        if self._writer is None:
            return 0
        self._writer.close()
        self._writer = None
        return os.path.getsize(self.path)

    def abort(self) -> None:
        self._pending = []
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def read_rows(
    split: FileSplit, batch_rows: int = READ_BATCH_ROWS, *, as_records: bool = True
) -> Iterator[tuple[int, Any]]:
    """``(first_row, records)`` batches of a whole Parquet file, each record a dict (or, not
    `as_records`, the decoded ``pyarrow.RecordBatch``: a check that the file reads)."""
    import pyarrow.parquet as pq

    with open_binary(split.path) as f:
        row = 0
        for batch in pq.ParquetFile(f).iter_batches(batch_size=batch_rows):
            records = batch.to_pylist() if as_records else batch
            yield row, records
            row += len(records)
