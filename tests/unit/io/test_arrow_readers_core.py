"""pyarrow readers give the same rows as the record readers, and name bad input the same way."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gristmill as gm
from gristmill.api.dataset import BatchFormat
from gristmill.errors import InputFormatError, UsageError
from gristmill.io.arrow_readers import read_csv_table, read_text_table
from gristmill.io.csv_rows import read_csv
from gristmill.io.formats import read_text
from gristmill.io.fs import list_inputs
from gristmill.io.splits import FileSplit, split_files

INLINE = gm.Config(executor="inline", progress=False)


def _splits(path: Path, size: int) -> list[FileSplit]:
    return list(split_files(list(list_inputs((str(path),))), size))


line_text = st.text(st.characters(blacklist_characters="\n", blacklist_categories=["Cs"]))


@settings(max_examples=60, deadline=None)
@given(st.lists(line_text, max_size=40), st.booleans(), st.integers(1, 64))
def test_text_tables_hold_the_same_lines_as_the_record_reader(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str], crlf: bool, split: int
) -> None:
    path = tmp_path_factory.mktemp("t") / "a.txt"
    end = "\r\n" if crlf else "\n"
    path.write_bytes(end.join(lines).encode())  # no newline after the last line
    expected, got = [], []
    for s in _splits(path, split):
        for batch in read_text(s, None, 7):
            expected += batch.records
        for batch in read_text_table(s, None, 7):
            got += batch.records.column("item").to_pylist()
    assert got == expected


def test_invalid_utf8_is_named_by_line_and_skipped_in_skip_mode(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(b"good\nbad \xff here\nalso good\n")
    (s,) = _splits(path, 1 << 20)
    with pytest.raises(InputFormatError, match=r"bad\.txt, line 2"):
        list(read_text_table(s, None, 1 << 20))
    skipped: list[str] = []
    batches = list(read_text_table(s, lambda where, why: skipped.append(where), 1 << 20))
    assert [b.records.column("item").to_pylist() for b in batches] == [["good", "also good"]]
    assert len(skipped) == 1 and "line 2" in skipped[0]


def _csv(path: Path, rows: list[str]) -> None:
    path.write_text("id,name,price\n" + "".join(r + "\n" for r in rows))


def test_csv_tables_are_typed_and_every_split_shares_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    _csv(path, [f"{i},n{i},{i}.25" for i in range(5000)])
    tables = [b.records for s in _splits(path, 4096) for b in read_csv_table(s, {}, None, 1024)]
    assert len({t.schema for t in tables}) == 1
    rows = [r for t in tables for r in t.to_pylist()]
    assert rows == [{"id": i, "name": f"n{i}", "price": i + 0.25} for i in range(5000)]


def test_a_value_that_breaks_the_inferred_type_names_file_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    good = [f"{i},n{i},1.5" for i in range(120000)]  # the first megabyte: id is an integer
    _csv(path, [*good, "oops,x,2.5"])
    offset = len("id,name,price\n") + sum(len(r) + 1 for r in good)
    with pytest.raises(InputFormatError, match=r"a\.csv: malformed CSV in the block at byte"):
        for s in _splits(path, 1 << 30):
            list(read_csv_table(s, {}, None, 1 << 30))
    skipped: list[tuple[str, str]] = []
    rows = [
        r
        for s in _splits(path, 1 << 30)
        for b in read_csv_table(s, {}, lambda where, why: skipped.append((where, why)), 4096)
        for r in b.records.to_pylist()
    ]
    assert len(rows) == len(good)
    assert len(skipped) == 1 and f"byte offset {offset}" in skipped[0][0]


def test_datasets_read_pyarrow_batches_and_records_agree(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    _csv(path, ["1,a,2.5", "2,b,3.5", "3,a,1.0"])
    by_name = gm.read_csv(str(path), batch_format="pyarrow").map(lambda r: (r["name"], r["price"]))
    assert sorted(by_name.reduce_by_key(lambda a, b: a + b).collect(config=INLINE)) == [
        ("a", 3.5),
        ("b", 3.5),
    ]
    text = tmp_path / "t.txt"
    text.write_text("x y\nz\n")
    got: Any = gm.read_text(str(text), batch_format="pyarrow").collect(config=INLINE)
    assert got == ["x y", "z"]
    assert os.path.exists(text)


@pytest.mark.parametrize("batch_format", ["default", "pyarrow"])
def test_columns_keep_only_those_in_that_order(tmp_path: Path, batch_format: BatchFormat) -> None:
    path = tmp_path / "a.csv"
    _csv(path, [f"{i},n{i},{i}.25" for i in range(3000)])
    full = gm.read_csv(str(path), batch_format=batch_format).collect(config=INLINE)
    picked = gm.read_csv(str(path), batch_format=batch_format, columns=["price", "id"])
    got = picked.collect(config=gm.Config(executor="inline", progress=False, split_size=4096))
    want = [[("price", r["price"]), ("id", r["id"])] for r in full]
    assert [list(r.items()) for r in got] == want
    assert len(got) == 3000


def test_columns_missing_from_the_header_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    _csv(path, ["1,a,2.5"])
    (split,) = _splits(path, 1 << 20)
    with pytest.raises(InputFormatError, match=r"a\.csv: no column 'cost'"):
        list(read_csv_table(split, {}, None, 4096, ("id", "cost")))
    with pytest.raises(InputFormatError, match=r"a\.csv: no column 'cost'"):
        list(read_csv(split, {}, None, 4096, ("cost",)))
    for bad in ("id", [], ["id", "id"], [1]):
        with pytest.raises(UsageError, match="columns"):
            gm.read_csv(str(path), columns=bad)  # type: ignore[arg-type]


def test_projected_csv_still_rejects_rows_of_the_wrong_width(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    _csv(path, ["1,a,2.5", "2,b", "3,c,1.0"])
    (split,) = _splits(path, 1 << 20)
    with pytest.raises(InputFormatError, match=r"a\.csv: malformed CSV"):
        list(read_csv_table(split, {}, None, 4096, ("id",)))
    skipped: list[str] = []
    tables = read_csv_table(split, {}, lambda where, why: skipped.append(where), 4096, ("id",))
    assert [r for t in tables for r in t.records.to_pylist()] == [{"id": 1}, {"id": 3}]
    assert len(skipped) == 1 and "byte offset 22" in skipped[0]  # the row "2,b"


def test_types_fix_columns_that_inference_would_get_wrong(tmp_path: Path) -> None:
    # Zip codes look like integers in the first megabyte; fixed as text they keep their zeros.
    path = tmp_path / "a.csv"
    rows = [f"{i},{i % 1000:05d},{i}.5" for i in range(40000)]
    path.write_text("id,zip,price\n" + "".join(r + "\n" for r in rows))
    cfg = gm.Config(executor="inline", progress=False, split_size=64 * 1024)
    inferred = gm.read_csv(str(path), batch_format="pyarrow").collect(config=cfg)
    assert inferred[7]["zip"] == 7  # what the override is for
    fixed = gm.read_csv(str(path), batch_format="pyarrow", types={"zip": "string"})
    got = fixed.collect(config=cfg)
    want = [{"id": i, "zip": f"{i % 1000:05d}", "price": i + 0.5} for i in range(40000)]
    assert got == want


def test_a_value_that_breaks_a_fixed_type_names_file_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    _csv(path, ["1,a,2.5", "2,b,3.5", "3,c,x"])
    (split,) = _splits(path, 1 << 20)
    types = (("price", pa.float64()),)
    with pytest.raises(InputFormatError, match=r"a\.csv: malformed CSV in the block at byte"):
        list(read_csv_table(split, {}, None, 4096, types=types))
    skipped: list[str] = []
    tables = read_csv_table(split, {}, lambda where, why: skipped.append(where), 4096, types=types)
    assert [r["price"] for t in tables for r in t.records.to_pylist()] == [2.5, 3.5]
    assert len(skipped) == 1 and "byte offset 30" in skipped[0]  # the row "3,c,x"


def test_types_are_checked_when_the_job_is_built(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    _csv(path, ["1,a,2.5"])
    with pytest.raises(UsageError, match="needs batch_format='pyarrow'"):
        gm.read_csv(str(path), types={"id": "string"})
    with pytest.raises(UsageError, match="unknown type 'integer' for column 'id'"):
        gm.read_csv(str(path), batch_format="pyarrow", types={"id": "integer"})
    with pytest.raises(UsageError, match="column 'id' needs a pyarrow type"):
        gm.read_csv(str(path), batch_format="pyarrow", types={"id": int})
    with pytest.raises(UsageError, match="column 'id' cannot be read from CSV as list"):
        gm.read_csv(str(path), batch_format="pyarrow", types={"id": pa.list_(pa.int64())})
    with pytest.raises(UsageError, match="types must map column names to types"):
        gm.read_csv(str(path), batch_format="pyarrow", types=[("id", "int64")])  # type: ignore[arg-type]
    (split,) = _splits(path, 1 << 20)
    with pytest.raises(InputFormatError, match=r"a\.csv: types names column 'cost' not in"):
        list(read_csv_table(split, {}, None, 4096, types=(("cost", pa.int64()),)))


def test_a_resumed_run_does_not_reuse_parts_read_with_other_options(tmp_path: Path) -> None:
    from gristmill.api.execute import plan_for
    from gristmill.plan.sinks import Sink, SinkKind
    from gristmill.runtime.scheduler import plan_fingerprint

    path = tmp_path / "a.csv"
    _csv(path, ["1,a,2.5"])
    sink = Sink(SinkKind.TEXT)

    def fingerprint(ds: gm.Dataset) -> str:
        return plan_fingerprint(plan_for(ds.node, INLINE), sink)

    typed = gm.read_csv(str(path), batch_format="pyarrow", types={"id": "string"})
    assert fingerprint(typed) == fingerprint(
        gm.read_csv(str(path), batch_format="pyarrow", types={"id": "string"})
    )
    assert fingerprint(typed) != fingerprint(gm.read_csv(str(path), batch_format="pyarrow"))
    assert fingerprint(gm.read_csv(str(path))) != fingerprint(gm.read_csv(str(path), delimiter=";"))


@pytest.mark.parametrize(
    "data", [b"id,name,price\n1,a,2.5\n2,b,3\n", b"a,b\n1,2", b"a\n1\n2.5", b"a,b\n1,x\n2,y\n"]
)
@pytest.mark.parametrize("kind", ["", ".gz", ".zst"])
def test_csv_tables_and_types_are_alike_compressed_or_not(
    tmp_path: Path, data: bytes, kind: str
) -> None:
    import gzip

    import pyarrow.csv as pacsv

    path = tmp_path / f"a.csv{kind}"
    if kind == ".zst":
        with pa.CompressedOutputStream(str(path), "zstd") as out:
            out.write(data)
    else:
        path.write_bytes(gzip.compress(data) if kind else data)
    (split,) = _splits(path, 1 << 20)
    got = [r for b in read_csv_table(split, {}, None, 4096) for r in b.records.to_pylist()]
    assert got == pacsv.read_csv(pa.py_buffer(data)).to_pylist()


def test_the_inference_sample_is_the_same_first_megabyte_compressed_or_not(
    tmp_path: Path,
) -> None:
    import gzip

    from gristmill.io.arrow_readers import INFER_BYTES

    # Text on the line that holds the sample's last byte: inside the sample either way.
    ints = b"a\n" + b"1\n" * ((INFER_BYTES - 8) // 2)
    data = ints + b"x" * (INFER_BYTES - len(ints) + 2) + b"\n" + b"3\n" * 10
    plain = tmp_path / "a.csv"
    plain.write_bytes(data)
    packed = tmp_path / "a.csv.gz"
    packed.write_bytes(gzip.compress(data))
    schemas = [
        b.records.schema
        for p in (plain, packed)
        for s in _splits(p, 1 << 30)
        for b in read_csv_table(s, {}, None, 1 << 16, types=())
    ]
    assert {str(schema.field("a").type) for schema in schemas} == {"string"}


@pytest.mark.parametrize(
    ("data", "delimiter"),
    [
        (b"a\tb\n\t\n", "\t"),  # one row of two empty fields
        (b"a\tb\nx\ty\n\t\n\t\n", "\t"),
        (b"name\n \n", ","),  # one row whose value is a space
        (b"a,b\n1,2\n\n\r\n3,4\n\n", ","),  # blank lines are no rows
    ],
)
def test_whitespace_rows_are_rows_at_every_split_size(
    tmp_path: Path, data: bytes, delimiter: str
) -> None:
    import csv
    import io

    import pyarrow.csv as pacsv

    path = tmp_path / "a.csv"
    path.write_bytes(data)
    parse = pacsv.ParseOptions(delimiter=delimiter)
    whole = pacsv.read_csv(pa.py_buffer(data), parse_options=parse)
    # gristmill reads a column with no value in its sample as text, where pyarrow says null.
    text = {f.name: pa.string() for f in whole.schema if pa.types.is_null(f.type)}
    convert = pacsv.ConvertOptions(column_types=text)
    want = pacsv.read_csv(pa.py_buffer(data), parse_options=parse, convert_options=convert)
    want = want.to_pylist()
    rows = csv.DictReader(io.StringIO(data.decode(), newline=""), delimiter=delimiter)
    assert len(want) == len(list(rows))  # pyarrow and csv agree on which lines are rows
    options = {"delimiter": delimiter}
    for size in range(1, len(data) + 1):
        tables = [
            b.records for s in _splits(path, size) for b in read_csv_table(s, options, None, 64)
        ]
        assert [r for t in tables for r in t.to_pylist()] == want, size


def _note(skipped: list[str], where: str, _why: str) -> None:
    skipped.append(where)


def test_a_whitespace_row_of_the_wrong_width_fails_at_every_split_size(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"a,b\n1,2\n \n")  # " " is one field of two
    for size in range(1, 12):
        with pytest.raises(InputFormatError, match=r"a\.csv: malformed CSV"):
            [b for s in _splits(path, size) for b in read_csv_table(s, {}, None, 64)]
        skipped: list[str] = []
        rows = [
            r
            for s in _splits(path, size)
            for b in read_csv_table(s, {}, functools.partial(_note, skipped), 64)
            for r in b.records.to_pylist()
        ]
        assert rows == [{"a": 1, "b": 2}] and len(skipped) == 1 and "byte offset 8" in skipped[0]


@pytest.mark.parametrize("batch_format", ["default", "pyarrow"])
def test_columns_refuse_a_name_the_header_holds_twice(
    tmp_path: Path, batch_format: BatchFormat
) -> None:
    import csv
    import io

    path = tmp_path / "a.csv"
    path.write_text("a,a,b\n1,2,3\n")
    cfg = gm.Config(executor="inline", progress=False, max_attempts=1)
    with pytest.raises(gm.JobFailedError, match=r"a\.csv: its header .* names column 'a' more"):
        gm.read_csv(str(path), batch_format=batch_format, columns=["a", "b"]).collect(config=cfg)
    # A column named once is kept, and dict rows without columns= are csv.DictReader's.
    got = gm.read_csv(str(path), batch_format=batch_format, columns=["b"]).collect(config=cfg)
    assert [str(r["b"]) for r in got] == ["3"]
    rows = gm.read_csv(str(path)).collect(config=cfg)
    assert rows == list(csv.DictReader(io.StringIO(path.read_text())))


def test_a_column_empty_in_the_whole_sample_is_text_not_null(tmp_path: Path) -> None:
    # More than the first megabyte with no value in `opt`: inference alone would say null.
    path = tmp_path / "a.csv"
    rows = ["k,opt", *(f"{i}," for i in range(200_000)), "200000,late"]
    path.write_text("\n".join(rows) + "\n")
    cfg = gm.Config(executor="inline", progress=False)
    got = gm.read_csv(str(path), batch_format="pyarrow").collect(config=cfg)
    assert len(got) == 200_001
    assert got[0] == {"k": 0, "opt": ""} and got[-1] == {"k": 200_000, "opt": "late"}
