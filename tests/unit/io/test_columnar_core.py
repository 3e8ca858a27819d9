"""Records <-> pyarrow tables: the mapping `map_batches(batch_format="pyarrow")` relies on."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import gristmill as gm
from gristmill.io.columnar import (
    ArrowBatches,
    as_records,
    is_columnar,
    is_table,
    table_output,
    to_table,
)

INLINE = gm.Config(executor="inline", progress=False)


@pytest.mark.parametrize(
    "records",
    [
        ["a", "bb", ""],
        [1, 2, None],
        [("k", 1), ("j", 2)],
        [{"x": 1, "y": "a"}, {"x": 2, "y": "b"}],
        [b"ab", b"cd"],
    ],
)
def test_records_survive_a_round_trip_through_a_table(records: list[Any]) -> None:
    table = to_table(records)
    assert is_table(table) and is_columnar(table)
    assert as_records(table) == records


def test_a_binary_block_becomes_a_fixed_size_binary_column() -> None:
    block = np.frombuffer(b"abcdef", dtype=np.uint8).reshape(3, 2)
    table = to_table(block)
    assert table.column("item").to_pylist() == [b"ab", b"cd", b"ef"]


def test_arrays_become_the_item_column_and_other_results_are_refused() -> None:
    assert table_output(pa.array([1, 2])).column_names == ["item"]
    assert table_output([1]) == [1]
    with pytest.raises(TypeError, match="must return a pyarrow Table"):
        table_output(42)
    assert ArrowBatches(lambda t: t)(["x"]).to_pylist() == [{"item": "x"}]


def test_pyarrow_batches_flow_into_record_ops_and_keyed_ops() -> None:
    data = gm.from_items([{"k": "a", "v": 1}, {"k": "b", "v": 2}, {"k": "a", "v": 3}], 2)

    def double(table: pa.Table) -> pa.Table:
        return table.set_column(1, "v", pc.multiply(table["v"], 2))

    pairs = data.map_batches(double, batch_format="pyarrow").map(lambda r: (r["k"], r["v"]))
    assert sorted(pairs.reduce_by_key(lambda a, b: a + b).collect(config=INLINE)) == [
        ("a", 8),
        ("b", 4),
    ]


def test_a_bad_batch_format_is_a_usage_error() -> None:
    with pytest.raises(gm.UsageError, match="batch_format"):
        gm.from_items([1]).map_batches(lambda b: b, batch_format="pandas")  # type: ignore[arg-type]
