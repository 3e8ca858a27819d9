"""Task-side sinks: write a task's final records to a part file, or summarise them for the driver.

Part files are written under the job's attempt area; the driver commits them (see
`io.commit`). Group values (streams) are materialized here, at the edge.
"""

from __future__ import annotations

import heapq
import itertools
import json
import operator
import pickle
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from gristmill.faults import disk_full
from gristmill.io.binary import is_block
from gristmill.io.columnar import as_records, is_table
from gristmill.io.fs import space_checked
from gristmill.io.parquet import ParquetPartWriter
from gristmill.plan.sinks import Sink, SinkKind
from gristmill.shuffle.marks import mark_failing
from gristmill.shuffle.reader import Values
from gristmill.shuffle.runfile import RunWriter

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass
class SinkResult:
    """What one task's sink produced; `path` is the attempt file for file sinks."""

    path: str | None = None
    records: int = 0
    bytes: int = 0
    top: list[Any] = field(default_factory=list)


def text_line(record: Any) -> str:
    """A ``(k, v)`` pair becomes ``k<TAB>v``; anything else is ``str(record)``.

    >>> text_line(("word", 3))
    'word\\t3'
    """
    if type(record) is tuple and len(record) == 2:
        key, value = record
        if isinstance(value, Values):
            value = list(value)
        return f"{key}\t{value}"
    return str(record)


_second = operator.itemgetter(1)
PENDING_CHARS = 1 << 20  # formatted text held before a file write


def text_lines(batch: list[Any]) -> str:
    """`batch` as text, one `text_line` per record, each ending in a newline.

    A batch of plain pairs (the usual keyed output) is formatted in one f-string per pair, and
    a batch of str joined whole: checking the batch's types in C first saves a Python call per
    record (2.5x faster).

    >>> text_lines([("a", 1), "b"])
    'a\\t1\\nb\\n'
    """
    types = set(map(type, batch))
    if types == {str}:  # lines (a grep, a map to text): no Python call per record
        return "\n".join(batch) + "\n"
    if (
        types == {tuple}
        and set(map(len, batch)) == {2}
        and not any(issubclass(t, Values) for t in set(map(type, map(_second, batch))))
    ):
        return "".join([f"{key}\t{value}\n" for key, value in batch])
    return "".join([text_line(record) + "\n" for record in batch])


def table_text(table: pa.Table) -> str | None:
    """`text_lines` of a table's records, formatted in C++: lines (``item``) or pairs (``key``
    and ``value``) of strings and integers, whose text is the same in pyarrow as in Python.
    None for anything else (floats, nulls, other columns), which goes as records.

    >>> import pyarrow as pa
    >>> table_text(pa.table({"key": ["a", "b"], "value": [1, -20]}))
    'a\\t1\\nb\\t-20\\n'
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if table.column_names not in (["item"], ["key", "value"]) or not table.num_rows:
        return None
    columns = []
    for column in table.columns:
        kind = column.type
        if column.null_count or not (
            pa.types.is_integer(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind)
        ):
            return None
        columns.append(column if kind == pa.string() else pc.cast(column, pa.string()))
    lines = columns[0] if len(columns) == 1 else pc.binary_join_element_wise(*columns, "\t")
    ended = pc.binary_join_element_wise(lines, "", "\n")  # each line and a newline
    return "".join(_text_of(chunk) for chunk in ended.chunks)


def _text_of(chunk: pa.Array) -> str:
    """The characters of a string array's values, back to back."""
    import numpy as np

    _, offsets, data = chunk.buffers()
    if data is None:
        return ""
    positions = np.frombuffer(offsets, dtype=np.int32)
    start, stop = positions[chunk.offset], positions[chunk.offset + len(chunk)]
    text: str = data.slice(start, stop - start).to_pybytes().decode("utf-8")
    return text


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Values):
        return list(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=repr)
    raise TypeError(
        f"record field of type {type(obj).__name__} is not JSON serializable: {obj!r:.80}"
    )


class SinkWriter:
    """Consumes a task's output batches for one sink kind."""

    def __init__(self, sink: Sink, path: str | None) -> None:
        self.sink = sink
        self.result = SinkResult(path=path)
        self._file: IO[str] | None = None
        self._binary: IO[bytes] | None = None
        self._run: RunWriter | None = None
        self._parquet: ParquetPartWriter | None = None
        # Text and JSON lines wait here until `PENDING_CHARS`: a selective filter hands on a
        # few records per pass, and a write per pass cost 12% of a grep's CPU.
        self._pending: list[str] = []
        self._pending_chars = 0
        if sink.kind is SinkKind.PARQUET:
            assert path is not None
            self._parquet = ParquetPartWriter(path)
        elif sink.kind is SinkKind.BINARY:
            assert path is not None
            self._binary = open(path, "wb")  # noqa: SIM115 - closed in close()
        elif sink.kind in (SinkKind.TEXT, SinkKind.JSONL):
            assert path is not None
            self._file = open(path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        elif sink.kind in (SinkKind.COLLECT, SinkKind.FRAMES):
            assert path is not None
            self._run = RunWriter(path)

    @property
    def full(self) -> bool:
        limit = self.sink.limit
        return (
            self.sink.kind is not SinkKind.TOP
            and limit is not None
            and self.result.records >= limit
        )

    def write(self, batch: Any) -> None:
        if self._file is not None:  # text is formatted now and written in large pieces
            text = table_text(batch) if self._table_text and is_table(batch) else None
            if text is None:
                self._format(as_records(batch))
            else:
                self._kept_text(batch, text)
            if self._pending_chars >= PENDING_CHARS:
                self._flush()
            return
        with space_checked(self.result.path or "", "output staging directory"):
            disk_full("output_full")
            self._write(batch)

    def _format(self, batch: list[Any]) -> None:
        batch = self._kept(batch)
        if self.sink.kind is SinkKind.TEXT:
            text = text_lines(batch)
        else:
            dumps = json.dumps
            text = "".join([dumps(r, default=_json_default) + "\n" for r in batch])
        self._pending.append(text)
        self._pending_chars += len(text)

    @property
    def _table_text(self) -> bool:
        # A limit would cut the text at a record: that is the records' way.
        return self.sink.kind is SinkKind.TEXT and self.sink.limit is None

    def _kept_text(self, table: pa.Table, text: str) -> None:
        self.result.records += table.num_rows
        self._pending.append(text)
        self._pending_chars += len(text)

    def _flush(self) -> None:
        assert self._file is not None
        with space_checked(self.result.path or "", "output staging directory"):
            disk_full("output_full")
            self._file.write("".join(self._pending))
        self._pending.clear()
        self._pending_chars = 0

    def _write(self, batch: Any) -> None:
        if self._binary is not None:
            self._write_binary(batch)
            return
        if self._parquet is not None:  # before as_records: a pyarrow Table stays columnar
            self.result.records += self._parquet.write(batch)
            return
        if self.sink.kind is SinkKind.FRAMES:  # a cache: tables and blocks kept as they are
            assert self._run is not None
            self.result.records += len(batch)
            try:
                self._run.write_frame(0, batch)
            except (pickle.PicklingError, AttributeError, TypeError) as exc:
                raise TypeError(
                    f"a cached dataset's records are kept pickled, and these do not pickle: {exc}"
                ) from exc
            return
        batch = as_records(batch)
        limit = self.sink.limit
        if self.sink.kind is SinkKind.TOP:
            combined = itertools.chain(self.result.top, batch)
            try:
                self.result.top = heapq.nlargest(limit or 0, combined, key=self.sink.key)
            except Exception as exc:
                if self.sink.key is not None:
                    mark_failing(exc, self.sink.key, batch, "top key")
                raise
            self.result.records = len(self.result.top)
            return
        batch = self._kept(batch)  # COUNT only counts them
        if self.sink.kind is SinkKind.COLLECT:
            assert self._run is not None
            self._run.write_frame(0, batch)

    def _kept(self, batch: list[Any]) -> list[Any]:
        """The records of `batch` within the sink's limit, counted."""
        limit = self.sink.limit
        if limit is not None:
            batch = batch[: limit - self.result.records]
        self.result.records += len(batch)
        return batch

    def _write_binary(self, batch: Any) -> None:
        assert self._binary is not None
        if is_block(batch):
            self._binary.write(memoryview(batch).cast("B"))
        else:
            batch = as_records(batch)  # a table (a reducer's sums) as the records it holds
            for record in batch:
                if not isinstance(record, (bytes, bytearray, memoryview)):
                    raise TypeError(
                        "write_binary_records writes bytes records, got "
                        f"{type(record).__name__}: {record!r:.80}"
                    )
            self._binary.write(b"".join(batch))
        self.result.records += len(batch)

    def close(self) -> SinkResult:
        with space_checked(self.result.path or "", "output staging directory"):
            return self._close()

    def _close(self) -> SinkResult:
        if self._parquet is not None:
            self.result.bytes = self._parquet.close()
            if self._parquet.schema is None:
                self.result.path = None  # an empty partition writes no file: nothing to commit
        if self._binary is not None:
            self.result.bytes = self._binary.tell()
            self._binary.close()
        if self._file is not None:
            if self._pending:
                disk_full("output_full")
                self._file.write("".join(self._pending))
            self.result.bytes = self._file.tell()
            self._file.close()
        if self._run is not None:
            self.result.bytes = self._run.close().bytes
        return self.result

    def abort(self) -> None:
        if self._parquet is not None:
            self._parquet.abort()
        if self._binary is not None:
            self._binary.close()
        if self._file is not None:
            self._file.close()
        if self._run is not None:
            self._run.abort()
