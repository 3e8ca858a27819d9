"""CSV rows as dicts equal `csv.DictReader`'s, across splits and projections; bad rows are named."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gristmill.errors import InputFormatError
from gristmill.io.csv_rows import read_csv
from gristmill.io.fs import list_inputs
from gristmill.io.splits import split_files

HEADER = ["id", "name", "qty"]
# No newlines in cells: a quoted record spanning lines can straddle a split (as in Hadoop).
cell = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n\x00"), max_size=8
)
rows = st.lists(st.tuples(cell, cell, cell), max_size=60)


def _write(path: Path, body: list[tuple[str, str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(body)


def _read(path: Path, split_size: int, columns: tuple[str, ...] | None) -> list[dict[str, str]]:
    splits = split_files(list(list_inputs((str(path),))), split_size)
    return [r for s in splits for b in read_csv(s, {}, None, 64, columns) for r in b.records]


@settings(max_examples=60, deadline=None)
@given(rows, st.integers(8, 400), st.sampled_from([None, ("qty",), ("qty", "id"), ()]))
def test_dict_rows_equal_dictreader(
    tmp_path_factory: pytest.TempPathFactory,
    body: list[tuple[str, str, str]],
    split_size: int,
    columns: tuple[str, ...] | None,
) -> None:
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    _write(path, body)
    with path.open(newline="", encoding="utf-8") as f:
        expected = list(csv.DictReader(f))
    if columns is not None:
        expected = [{c: r[c] for c in columns} for r in expected]
    assert _read(path, split_size, columns) == expected


def test_a_short_row_among_whole_ones_is_named_by_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("id,name,qty\n1,a,2\n2,b\n3,c,4\n")
    with pytest.raises(InputFormatError, match=r"expected 3 fields, got 2 at .*bad.csv.* line 3"):
        _read(path, 1 << 20, None)
    blank = tmp_path / "blank.csv"
    blank.write_text("id,name,qty\n1,a,2\n\n3,c,4\n")
    assert [r["id"] for r in _read(blank, 1 << 20, ("id",))] == ["1", "3"]


def test_record_batches_are_small_and_columnar_blocks_large(tmp_path: Path) -> None:
    from gristmill.io.formats import read_split
    from gristmill.plan.logical import Format

    path = tmp_path / "t.txt"
    path.write_text(("word " * 12 + "\n") * 200_000)  # 12MB
    (split,) = split_files(list(list_inputs((str(path),))), 64 << 20)
    budget = 512 * 1024**2
    # Records: 64KB batches, so their Python objects stay in cache (1MB ones read CSV dicts
    # 2.5x slower). Tables: 4MB blocks, so per-block costs amortise (256KB ones made the
    # columnar word count 16% slower).
    records = list(read_split(split, Format.TEXT, {}, memory=budget))
    tables = list(read_split(split, Format.TEXT, {"batch_format": "pyarrow"}, memory=budget))
    assert 180 <= len(records) <= 200
    assert 3 <= len(tables) <= 4
    assert sum(len(b.records) for b in records) == sum(t.records.num_rows for t in tables)


field = st.text(st.sampled_from('ab ,"\n'), max_size=12)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(field, field, field), max_size=40),
    st.sampled_from(["\n", "\r\n"]),
    st.sampled_from([16, 64, 4096]),
    st.booleans(),
)
def test_quoted_fields_keep_their_newlines_across_batches(
    tmp_path_factory: pytest.TempPathFactory,
    body: list[tuple[str, str, str]],
    ending: str,
    chunk: int,
    gz: bool,
) -> None:
    import gzip

    # Embedded newlines written as the file's own line ending, as a spreadsheet saves them.
    body = [tuple(f.replace("\n", ending) for f in row) for row in body]  # type: ignore[misc]
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator=ending)
    writer.writerow(HEADER)
    writer.writerows(body)
    folder = tmp_path_factory.mktemp("quoted")
    path = folder / ("t.csv.gz" if gz else "t.csv")
    data = text.getvalue().encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    (split,) = split_files(list(list_inputs((str(path),))), 1 << 30)
    got = [r for b in read_csv(split, {}, None, chunk) for r in b.records]
    assert got == [dict(zip(HEADER, row, strict=True)) for row in body]


def test_a_bad_row_after_a_multiline_one_is_named_by_its_line(tmp_path: Path) -> None:
    path = tmp_path / "multi.csv"
    path.write_text('id,name,qty\n1,"two\nlines",2\n3,c\n')
    with pytest.raises(InputFormatError, match=r"expected 3 fields, got 2 at .*multi.csv.* line 4"):
        _read(path, 1 << 20, None)


def test_multiline_files_are_one_split_each(tmp_path: Path) -> None:
    import gristmill as gm
    from gristmill.api.execute import plan_for
    from gristmill.errors import UsageError

    rows = [
        (str(i), f"first {i}\nsecond {i}" if i % 3 == 0 else f"plain {i}", "q") for i in range(3000)
    ]
    path = tmp_path / "multi.csv"
    _write(path, rows)
    small = gm.Config(executor="inline", progress=False, split_size=4096)
    expected = [dict(zip(HEADER, r, strict=True)) for r in rows]
    # Split at line ends, records that cross a boundary would be cut; as one split they are not.
    assert gm.read_csv(str(path), multiline=True).collect(config=small) == expected
    (stage,) = plan_for(gm.read_csv(str(path), multiline=True).node, small).stages
    assert stage.num_tasks == 1
    assert plan_for(gm.read_csv(str(path)).node, small).stages[0].num_tasks > 1
    with pytest.raises(UsageError, match="multiline=True needs batch_format='default'"):
        gm.read_csv(str(path), multiline=True, batch_format="pyarrow")


def _reference(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("chunk", [16, 64, 1 << 16])
def test_a_quote_inside_an_unquoted_field_is_literal_as_csv_reads_it(
    tmp_path: Path, chunk: int
) -> None:
    path = tmp_path / "pipes.csv"
    body = "".join(f"r{i},{i},{'x' if i % 7 else 'y'}\n" for i in range(2000))
    # csv takes a quote inside an unquoted field literally; it must not open a field for us.
    path.write_text('id,name,qty\n5" pipe,x,1\n' + body + 'p,"multi\nline",2\n' + body)
    for split_size in (1 << 20, 4096):
        splits = split_files(list(list_inputs((str(path),))), split_size)
        try:
            got = [r for s in splits for b in read_csv(s, {}, None, chunk) for r in b.records]
        except InputFormatError as exc:  # the multi-line record crossed a split boundary
            assert split_size == 4096 and "multiline=True" in str(exc)
            continue
        assert got == _reference(path)


def test_each_line_keeps_its_own_ending_inside_quotes(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"  # csv.writer's default: \r\n rows, \n inside a field
    path.write_bytes(b'id,name,qty\r\n1,"first\nsecond",2\r\n3,"a\r\nb",4\n5,c,6')
    (split,) = split_files(list(list_inputs((str(path),))), 1 << 20)
    got = [r for b in read_csv(split, {}, None, 16) for r in b.records]
    assert got == _reference(path)
    assert [r["name"] for r in got] == ["first\nsecond", "a\r\nb", "c"]


def test_a_header_name_may_hold_a_newline(tmp_path: Path) -> None:
    path = tmp_path / "head.csv"
    path.write_text('"a\nb",c\n1,2\n')
    (split,) = split_files(list(list_inputs((str(path),))), 1 << 20)
    assert [r for b in read_csv(split, {}, None) for r in b.records] == [{"a\nb": "1", "c": "2"}]


def test_a_quoted_newline_across_a_split_boundary_fails_naming_multiline(tmp_path: Path) -> None:
    path = tmp_path / "cross.csv"
    rows = [(str(i), "x" * 30 + ("\n" + "y" * 30 if i % 5 == 0 else ""), "1") for i in range(400)]
    _write(path, rows)
    splits = split_files(list(list_inputs((str(path),))), 1024)
    with pytest.raises(InputFormatError, match=r"multiline=True|expected 3 fields"):
        for s in splits:
            list(read_csv(s, {}, None))
    whole = split_files(list(list_inputs((str(path),))), 1 << 30)
    got = [r for s in whole for b in read_csv(s, {}, None, 64) for r in b.records]
    assert got == [dict(zip(HEADER, r, strict=True)) for r in rows]


def test_a_record_closing_inside_its_split_near_the_end_is_read(tmp_path: Path) -> None:
    # A block held open by a multi-line record, then the split ends: the record closed inside
    # the split, so its rows are read (the review found this failing as "crosses a split").
    path = tmp_path / "near.csv"
    for n in range(100, 140, 3):
        record = b'x,"open\nclose"\n'
        body = b"".join(b"r%03d,%d\n" % (i, i) for i in range(n))
        data = b"a,b\n" + body + record + b"".join(b"s%03d,%d\n" % (i, i) for i in range(10))
        path.write_bytes(data)
        with path.open(newline="") as f:
            expected = list(csv.DictReader(f))
        inside = data.index(record) + record.index(b"\n") + 1
        for split_size in range(inside + 1, len(data), 5):
            splits = split_files(list(list_inputs((str(path),))), split_size)
            for chunk in (64, 128):
                got = [r for s in splits for b in read_csv(s, {}, None, chunk) for r in b.records]
                assert got == expected, (n, split_size, chunk)


def test_the_header_is_read_alone_so_skip_mode_can_skip_bad_lines_below_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bad-utf8.csv"
    path.write_bytes(b"a,b\n1,2\n\xff,3\n4,5\n")
    (split,) = split_files(list(list_inputs((str(path),))), 1 << 20)
    skipped: list[str] = []
    got = [r for b in read_csv(split, {}, lambda w, e: skipped.append(e)) for r in b.records]
    assert got == [{"a": "1", "b": "2"}, {"a": "4", "b": "5"}] and skipped == ["invalid UTF-8"]
    path.write_bytes(b"a,\xff\n1,2\n")
    with pytest.raises(InputFormatError, match="invalid UTF-8 in the header line"):
        list(read_csv(split_files(list(list_inputs((str(path),))), 1 << 20)[0], {}, None))


def _compress(path: Path, data: bytes, kind: str) -> Path:
    """`data` written to `path` + the suffix of compression `kind` ("" for none)."""
    import bz2
    import gzip

    import pyarrow as pa

    target = path.with_name(path.name + kind)
    if kind == ".zst":
        with pa.CompressedOutputStream(str(target), "zstd") as out:
            out.write(data)
    else:
        pack: dict[str, Callable[[bytes], bytes]] = {
            "": bytes,
            ".gz": gzip.compress,
            ".bz2": bz2.compress,
        }
        target.write_bytes(pack[kind](data))
    return target


@pytest.mark.parametrize("kind", ["", ".gz", ".bz2", ".zst"])
def test_every_compression_reads_the_header_and_rows_alike(tmp_path: Path, kind: str) -> None:
    data = b'id,"na\nme",qty\n1,a,2\n3,"b\nc",4\n'
    expected = list(csv.DictReader(io.StringIO(data.decode(), newline="")))
    path = _compress(tmp_path / "t.csv", data, kind)
    (split,) = split_files(list(list_inputs((str(path),))), 1 << 20)
    assert [r for b in read_csv(split, {}, None, 16) for r in b.records] == expected


def test_a_corrupt_compressed_header_is_named_with_a_reason(tmp_path: Path) -> None:
    path = _compress(tmp_path / "t.csv", b"id,name\n" + b"1,a\n" * 1000, ".gz")
    path.write_bytes(path.read_bytes()[:30])  # truncated inside its first block
    (split,) = split_files(list(list_inputs((str(path),))), 1 << 20)
    with pytest.raises(InputFormatError, match=r"t\.csv\.gz: corrupt or truncated input: \w"):
        list(read_csv(split, {}, None))


def _ended(text: str) -> list[str]:
    """`text`'s lines, each with its "\n": a lone "\r" does not end one, as in gristmill."""
    return [line + "\n" for line in text.split("\n")[:-1]]


@pytest.mark.parametrize("quoted", [False, True])  # a block with quotes is parsed exactly
@pytest.mark.parametrize("chunk", [16, 1 << 16])
def test_a_row_csv_refuses_is_named_and_skipped_like_a_short_row(
    tmp_path: Path, quoted: bool, chunk: int
) -> None:
    path = tmp_path / "cr.csv"
    first = '0,"q\nr"\n' if quoted else "0,p\n"
    path.write_bytes(f"a,b\n{first}1,x\ry\n2,z\n".encode())
    bad = 4 if quoted else 3
    text = path.read_bytes().decode()
    with pytest.raises(csv.Error):  # the oracle refuses it too (read by "\n", as gristmill)
        list(csv.DictReader(_ended(text)))
    with pytest.raises(
        InputFormatError,
        match=rf"malformed CSV row: new-line character .* at .*cr\.csv, line {bad} \(byte",
    ):
        [
            r
            for s in split_files(list(list_inputs((str(path),))), 1 << 20)
            for r in read_csv(s, {}, None, chunk)
        ]
    skipped: list[tuple[str, str]] = []
    (split,) = split_files(list(list_inputs((str(path),))), 1 << 20)
    got = [
        r
        for b in read_csv(split, {}, lambda where, why: skipped.append((where, why)), chunk)
        for r in b.records
    ]
    lines = _ended(text)
    del lines[bad - 1]
    assert got == list(csv.DictReader(lines))
    assert len(skipped) == 1 and f"line {bad} " in skipped[0][0]
    assert skipped[0][1].startswith("malformed CSV row: new-line character")


def test_fields_longer_than_csvs_limit_are_read_and_the_limit_kept(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    long = "x" * 200_000
    path.write_text(f'a,b\n1,{long}\n2,"{long}\n{long}"\n3,z\n')
    limit = csv.field_size_limit()
    csv.field_size_limit(1 << 20)  # the oracle: csv with a limit that fits the fields
    try:
        expected = _reference(path)
    finally:
        csv.field_size_limit(limit)
    for split_size, chunk in ((1 << 20, 16), (1 << 20, 1 << 16), (1 << 30, 64)):
        splits = split_files(list(list_inputs((str(path),))), split_size)
        assert [
            r for s in splits for b in read_csv(s, {}, None, chunk) for r in b.records
        ] == expected
    assert csv.field_size_limit() == limit  # lifted only while gristmill parses


def test_a_header_csv_refuses_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "head.csv"
    path.write_bytes(b"a,b\rc\n1,2\n")
    (split,) = split_files(list(list_inputs((str(path),))), 1 << 20)
    with pytest.raises(InputFormatError, match=r"malformed CSV header in .*head\.csv: new-line"):
        list(read_csv(split, {}, None))


def test_a_split_starting_inside_a_quoted_record_fails_with_the_crossing_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cross.csv"
    rows = [(str(i), "x" * 30 + ("\n" + "y" * 30 if i % 5 == 0 else ""), "1") for i in range(400)]
    _write(path, rows)
    splits = split_files(list(list_inputs((str(path),))), 1024)
    # Each split read alone, as a worker reads it: whichever fails, fails naming multiline.
    for on_bad in (None, lambda where, why: pytest.fail(f"skipped {where}: {why}")):
        errors = []
        for i, split in enumerate(splits):
            previous = splits[i - 1] if i else None
            try:
                list(read_csv(split, {}, on_bad, 64, previous=previous))
            except InputFormatError as exc:
                errors.append(str(exc))
        assert len(errors) > 1 and all("multiline=True" in e for e in errors), errors


def test_a_bad_row_after_a_clean_split_is_reported_as_itself(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        'id,name,qty\n1,"a\nb",2\n' + "".join(f"{i},n,1\n" for i in range(300)) + "x,y\n"
    )
    splits = split_files(list(list_inputs((str(path),))), 1024)
    with pytest.raises(InputFormatError, match="expected 3 fields, got 2"):
        list(read_csv(splits[-1], {}, None, 64, previous=splits[-2]))


def test_worker_processes_report_a_record_crossing_a_split_as_such(tmp_path: Path) -> None:
    import gristmill as gm

    path = tmp_path / "t.csv"
    path.write_bytes(b'a,b\n1,2\n"x\ny\nz",3\n4,5\n')  # the next split starts at "y"
    cfg = gm.Config(executor="local", workers=2, progress=False, split_size=10, max_attempts=1)
    for skip in (False, True):
        for _ in range(10):
            with pytest.raises(
                gm.JobFailedError, match=r"Error: a quoted field holding newlines runs past"
            ):
                gm.read_csv(str(path)).collect(
                    config=dataclasses.replace(cfg, skip_bad_records=skip)
                )


@pytest.mark.parametrize("batch_format", ["default", "pyarrow"])
def test_a_utf8_bom_is_not_part_of_the_first_column_name(tmp_path: Path, batch_format: str) -> None:
    # Excel's "CSV UTF-8" starts with a byte order mark; DuckDB, Polars and csv's utf-8-sig
    # drop it.
    import gristmill as gm

    path = tmp_path / "excel.csv"
    path.write_bytes('"id",name\n1,a\n2,b\n'.encode("utf-8-sig"))  # quoted after the mark
    oracle = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    cfg = gm.Config(executor="inline", progress=False)
    if batch_format == "pyarrow":
        tables = gm.read_csv(str(path), batch_format="pyarrow", types={"id": "string"})
        ds = tables.map_batches(lambda t: t.to_pylist(), batch_format="pyarrow")
    else:
        ds = gm.read_csv(str(path), columns=("id", "name"))
    assert ds.collect(config=cfg) == oracle
