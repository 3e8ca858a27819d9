"""write_parquet / read_parquet on every backend: staged atomic commit, schema checks, counters.

The oracle is pyarrow reading the committed part files, compared with the plain-Python records.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import gristmill as gm

EXECUTORS = ["inline", "local"]


def _cfg(executor: str, tmp_path: Path, **kw: Any) -> gm.Config:
    return gm.Config(
        executor=executor, workers=2, progress=False, scratch_dir=str(tmp_path / "s"), **kw
    )


def _read_parts(out: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for part in sorted(out.glob("part-*.parquet")):
        rows += pq.read_table(part).to_pylist()
    return rows


@pytest.mark.parametrize("executor", EXECUTORS)
def test_records_round_trip_with_counters_and_manifest(executor: str, tmp_path: Path) -> None:
    rng = random.Random(7)
    rows = [
        {"name": f"n{rng.randrange(50)}", "cents": rng.randrange(10**12), "x": rng.random()}
        for _ in range(5000)
    ]
    out = tmp_path / "out"
    result = gm.from_items(rows, partitions=3).write_parquet(
        str(out), config=_cfg(executor, tmp_path)
    )
    assert _read_parts(out) == rows
    names = sorted(p.name for p in out.iterdir())
    assert names == ["_SUCCESS", "part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    sizes = sum((out / n).stat().st_size for n in names if n.startswith("part-"))
    assert result.counters["output.records"] == 5000
    assert result.counters["output.bytes"] == sizes
    manifest = json.loads((out / "_SUCCESS").read_text())
    assert [f["records"] for f in manifest["files"]] == [
        pq.ParquetFile(out / f["name"]).metadata.num_rows for f in manifest["files"]
    ]
    back = gm.read_parquet(str(out)).collect(config=_cfg(executor, tmp_path))
    assert back == rows


@pytest.mark.parametrize("executor", EXECUTORS)
def test_empty_partitions_write_no_file(executor: str, tmp_path: Path) -> None:
    pairs = gm.from_items([("a", 1), ("b", 2), ("a", 3)], partitions=2)
    summed = pairs.reduce_by_key(lambda x, y: x + y, partitions=8)
    out = tmp_path / "out"
    result = summed.map(lambda kv: {"key": kv[0], "total": kv[1]}).write_parquet(
        str(out), config=_cfg(executor, tmp_path)
    )
    parts = sorted(p.name for p in out.glob("part-*"))
    assert len(parts) == 2, parts  # two keys: six of the eight partitions are empty
    assert sorted(_read_parts(out), key=lambda r: r["key"]) == [
        {"key": "a", "total": 4},
        {"key": "b", "total": 2},
    ]
    assert [os.path.basename(p) for p in result.output_paths] == parts
    manifest = json.loads((out / "_SUCCESS").read_text())
    assert [f["name"] for f in manifest["files"]] == parts
    empty = tmp_path / "empty"
    gm.from_items([], partitions=2).write_parquet(str(empty), config=_cfg(executor, tmp_path))
    assert sorted(p.name for p in empty.iterdir()) == ["_SUCCESS"]


def _as_string_late(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # The second batch of the partition turns the column into strings.
    if batch[0]["n"] >= 4096:
        return [{"n": str(r["n"])} for r in batch]
    return batch


@pytest.mark.parametrize("executor", EXECUTORS)
def test_later_batch_with_other_type_fails_naming_column_and_record(
    executor: str, tmp_path: Path
) -> None:
    rows = gm.from_items([{"n": i} for i in range(5000)], partitions=1)
    out = tmp_path / "out"
    with pytest.raises(gm.JobFailedError) as info:
        rows.map_batches(_as_string_late).write_parquet(
            str(out), config=_cfg(executor, tmp_path, max_attempts=1)
        )
    message = str(info.value)
    assert "column 'n' has type string" in message and "int64" in message
    assert "{'n': '4096'}" in message
    assert not out.exists()
    assert [p for p in os.listdir(tmp_path) if p.startswith(".out")] == []


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        ([{"a": 1}, {"a": 2, "b": 3}], "unexpected ['b']"),
        ([{"a": 1, "b": 2}, {"a": 3}], "missing ['b']"),
        ([{"a": 1}, ("a", 2)], "dict records"),
        ([{"a": 1}, {"a": "x"}], "column 'a' mixes types"),
    ],
)
def test_records_that_do_not_fit_fail_instead_of_dropping_data(
    records: list[Any], expected: str, tmp_path: Path
) -> None:
    with pytest.raises(gm.JobFailedError) as info:
        gm.from_items(records, partitions=1).write_parquet(
            str(tmp_path / "out"), config=_cfg("inline", tmp_path, max_attempts=1)
        )
    assert expected in str(info.value)
    assert repr(records[1])[:20] in str(info.value)


def _explode_on_three(row: dict[str, Any]) -> dict[str, Any]:
    if row["n"] == 3:
        raise ValueError("no threes")
    return row


def test_failed_overwrite_keeps_previous_output_and_leaves_no_staging(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cfg = _cfg("local", tmp_path, max_attempts=1)
    old = gm.from_items([{"n": 1}], partitions=1)
    old.write_parquet(str(out), config=cfg)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(gm.OutputExistsError):
        old.write_parquet(str(out), config=cfg)
    new = gm.from_items([{"n": i} for i in range(6)], partitions=3)
    with pytest.raises(gm.JobFailedError):
        new.map(_explode_on_three).write_parquet(str(out), overwrite=True, config=cfg)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p for p in os.listdir(tmp_path) if p.startswith(".out")] == []
    new.write_parquet(str(out), overwrite=True, config=cfg)
    assert _read_parts(out) == [{"n": i} for i in range(6)]
    assert len(list(out.glob("part-*.parquet"))) == 3


def test_read_parquet_failure_names_file_and_row(tmp_path: Path) -> None:
    src = tmp_path / "in.parquet"
    pq.write_table(pa.table({"n": list(range(10))}), src)
    with pytest.raises(gm.JobFailedError) as info:
        gm.read_parquet(str(src)).map(_explode_on_three).collect(
            config=_cfg("inline", tmp_path, max_attempts=1)
        )
    assert f"{src}, row 3" in info.value.location


def test_pyarrow_tables_reach_the_parquet_writer_as_they_are(tmp_path: Path) -> None:
    # A typed CSV read as tables, transformed columnar, written without becoming records.
    src = tmp_path / "in.csv"
    src.write_text("k,n\n" + "".join(f"k{i % 5},{i}\n" for i in range(3000)))

    def doubled(table: pa.Table) -> pa.Table:
        import pyarrow.compute as pc

        return table.set_column(1, "n", pc.multiply(table["n"], 2))

    out = tmp_path / "out"
    result = (
        gm.read_csv(str(src), batch_format="pyarrow")
        .map_batches(doubled, batch_format="pyarrow")
        .write_parquet(str(out), config=_cfg("local", tmp_path))
    )
    rows = _read_parts(out)
    assert rows == [{"k": f"k{i % 5}", "n": 2 * i} for i in range(3000)]
    assert result.counters["output.records"] == 3000
    assert pq.read_schema(next(out.glob("part-*.parquet"))).field("n").type == pa.int64()
