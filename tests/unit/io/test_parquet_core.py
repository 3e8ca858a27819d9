"""The Parquet part writer: Arrow tables pass as they are, schemas never drift silently."""

from __future__ import annotations

import collections
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gristmill.io.parquet import ROW_GROUP_ROWS, ParquetPartWriter, ParquetSchemaError
from gristmill.plan.sinks import Sink, SinkKind
from gristmill.runtime.sinks import SinkWriter


def test_sink_writer_takes_arrow_tables_and_dict_batches_in_one_file(tmp_path: Path) -> None:
    path = tmp_path / "part-00000.parquet.a1"
    writer = SinkWriter(Sink(SinkKind.PARQUET), str(path))
    writer.write(pa.table({"k": ["a", "b"], "n": pa.array([1, 2], pa.int64())}))
    writer.write([{"n": 3, "k": "c"}])  # other key order: columns match by name
    writer.write([collections.OrderedDict(k="d", n=4)])  # dict subclasses are records too
    result = writer.close()
    assert result.records == 4
    assert result.bytes == path.stat().st_size
    assert pq.read_table(path).to_pylist() == [
        {"k": "a", "n": 1},
        {"k": "b", "n": 2},
        {"k": "c", "n": 3},
        {"k": "d", "n": 4},
    ]


def test_table_of_another_type_is_refused_not_cast(tmp_path: Path) -> None:
    writer = ParquetPartWriter(str(tmp_path / "p.parquet"))
    writer.write(pa.table({"n": pa.array([1], pa.int64())}))
    with pytest.raises(ParquetSchemaError, match="column 'n' has type int32") as info:
        writer.write(pa.table({"n": pa.array([None, 2], pa.int32())}))
    assert "at record {'n': 2}" in str(info.value)
    writer.abort()


def test_all_null_column_takes_the_file_type(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    writer = ParquetPartWriter(str(path))
    writer.write([{"a": 1, "b": "x"}])
    writer.write([{"a": None, "b": None}])
    writer.close()
    table = pq.read_table(path)
    assert table.schema.types == [pa.int64(), pa.string()]
    assert table.to_pylist() == [{"a": 1, "b": "x"}, {"a": None, "b": None}]


def test_empty_writer_leaves_no_file_and_large_input_makes_row_groups(tmp_path: Path) -> None:
    empty = ParquetPartWriter(str(tmp_path / "empty.parquet"))
    empty.write([])
    assert empty.close() == 0
    assert not (tmp_path / "empty.parquet").exists()
    path = tmp_path / "big.parquet"
    writer = ParquetPartWriter(str(path))
    for start in range(0, 3 * ROW_GROUP_ROWS, 4096):
        writer.write([{"n": i} for i in range(start, start + 4096)])
    writer.close()
    meta = pq.ParquetFile(path).metadata
    assert meta.num_rows == 3 * ROW_GROUP_ROWS
    assert meta.num_row_groups == 3
    assert pq.read_table(path).column("n").to_pylist() == list(range(3 * ROW_GROUP_ROWS))
