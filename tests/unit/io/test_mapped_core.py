"""Mapped blocks: the same line-aligned blocks as the copying reader, views that stay valid."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gristmill.errors import InputFormatError
from gristmill.io import mapped
from gristmill.io.arrow_readers import read_csv_table
from gristmill.io.formats import Origin, _line_blocks
from gristmill.io.fs import list_inputs
from gristmill.io.mapped import PROBE, line_length, mappable, mapped_blocks, only_newlines
from gristmill.io.splits import FileSplit, split_files


@pytest.fixture(autouse=True)
def _as_a_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mapped, "_enabled", True)  # as `mapped.enable()` in a worker process


def test_only_worker_processes_map(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"a\n")
    (split,) = _splits(path, 1 << 20)
    assert mappable(split)
    monkeypatch.setattr(mapped, "_enabled", False)  # the user's own process: SIGBUS would kill it
    assert not mappable(split)


def _splits(path: Path, size: int) -> list[FileSplit]:
    return list(split_files(list(list_inputs((str(path),))), size))


lines = st.lists(
    st.one_of(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")), st.just(b"")),
    max_size=60,
)


@settings(max_examples=80, deadline=None)
@given(lines, st.booleans(), st.integers(1, 200), st.integers(1, 90))
def test_mapped_blocks_equal_the_read_blocks(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[bytes],
    trailing_newline: bool,
    split: int,
    chunk: int,
) -> None:
    path = tmp_path_factory.mktemp("m") / "a.txt"
    data = b"\n".join(rows) + (b"\n" if trailing_newline and rows else b"")
    path.write_bytes(data)
    read, mapped = [], []
    for s in _splits(path, split):
        assert mappable(s)
        read += [(offset, bytes(block)) for offset, block in _line_blocks(s, chunk)]
        mapped += [(offset, bytes(view)) for offset, view in mapped_blocks(s, chunk)]
    assert mapped == read
    assert b"".join(block for _, block in mapped) == data  # every byte once, in order


def test_lines_longer_than_a_probe_and_page_unaligned_blocks(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    long = b"x" * (3 * PROBE + 17)
    data = b"".join([b"a\n", long + b"\n", b"bb\n" * 5000, long])  # no final newline
    path.write_bytes(data)
    for size in (1000, 5000, 1 << 20):
        splits = _splits(path, size)
        got = [bytes(v) for s in splits for _, v in mapped_blocks(s, 777)]
        want = [bytes(b) for s in splits for _, b in _line_blocks(s, 777)]
        assert got == want
        assert b"".join(got) == data


def test_earlier_views_stay_valid_after_the_reader_moves_on_and_ends(tmp_path: Path) -> None:
    # Each block is its own map, unmapped only when its last view goes: a batch's Origin may
    # outlive the reader.
    path = tmp_path / "a.txt"
    data = b"".join(b"line %d\n" % i for i in range(20000))
    path.write_bytes(data)
    (split,) = _splits(path, 1 << 30)
    views = list(mapped_blocks(split, 4096))
    assert len(views) > 10
    assert b"".join(bytes(v) for _, v in views) == data
    origin = Origin(str(path), views[3][0], None, views[3][1])
    del views
    assert "byte offset" in origin.locate(2) and "line" in origin.locate(2)


def test_a_file_removed_or_changed_after_planning_is_named(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"a\nb\n")
    (split,) = _splits(path, 1 << 20)
    path.write_bytes(b"a\nb\nc\n")
    with pytest.raises(InputFormatError, match=r"a\.txt .*since the job was planned"):
        list(mapped_blocks(split, 1024))
    os.remove(path)
    with pytest.raises(InputFormatError, match=r"a\.txt was removed"):
        list(mapped_blocks(split, 1024))


def test_csv_tables_from_mapped_blocks_name_a_bad_row_by_offset(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"id,name\n1,a\n2,b\n3\n4,d\n")
    (split,) = _splits(path, 1 << 20)
    bad = r"a\.csv: malformed CSV in the block at byte offset 8:"
    with pytest.raises(InputFormatError, match=bad):
        list(read_csv_table(split, {}, None, 1 << 20))
    skipped: list[str] = []
    tables = read_csv_table(split, {}, lambda where, why: skipped.append(where), 1 << 20)
    assert [r for t in tables for r in t.records.to_pylist()] == [
        {"id": 1, "name": "a"},
        {"id": 2, "name": "b"},
        {"id": 4, "name": "d"},
    ]
    assert len(skipped) == 1 and "byte offset 16" in skipped[0]  # the row "3"


@pytest.mark.parametrize(
    ("block", "length", "blank"),
    [
        (b"", 0, True),
        (b"ab\ncd", 3, False),
        (b"abc", 3, False),
        (b" \n\t\n", 2, False),  # whitespace is data: a value " ", a row of empty fields
        (b"\n\r\n\n", 1, True),
        (b"\r\nx\n", 2, False),
        (b"x" * (PROBE + 5) + b"\ny", PROBE + 6, False),
    ],
)
def test_line_length_and_only_newlines_on_views(block: bytes, length: int, blank: bool) -> None:
    for form in (block, memoryview(block)):
        assert line_length(form) == length
        assert only_newlines(form) is blank


def test_a_file_shrinking_between_blocks_is_named(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"".join(b"line %d\n" % i for i in range(50000)))
    (split,) = _splits(path, 1 << 30)
    blocks = mapped_blocks(split, 4096)
    next(blocks)
    os.truncate(path, 10000)  # the next block would map past the end: refused, and named
    with pytest.raises(InputFormatError, match=r"a\.txt .*since the job was planned"):
        list(blocks)


def test_a_file_system_that_refuses_maps_gets_read_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(fd: int, start: int, stop: int) -> memoryview:
        raise OSError(errno.ENODEV, "no mmap here")

    path = tmp_path / "a.txt"
    path.write_bytes(b"".join(b"line %d\n" % i for i in range(5000)))
    (split,) = _splits(path, 1 << 30)
    monkeypatch.setattr(mapped, "_map", refuse)
    got = [(offset, bytes(block)) for offset, block in mapped_blocks(split, 1000)]
    assert got == [(offset, bytes(block)) for offset, block in _line_blocks(split, 1000)]
