"""Splits depend only on input and split size; lines are owned by the split holding their start."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gristmill.io.formats import _line_blocks, read_text
from gristmill.io.fs import list_inputs
from gristmill.io.splits import split_files


def test_every_line_read_exactly_once_for_any_split_size(tmp_path: Path) -> None:
    lines = [("x" * (i % 37)) + str(i) for i in range(2000)]
    path = tmp_path / "a.txt"
    path.write_text("\n".join(lines))  # no trailing newline
    files = list_inputs((str(path),))
    for size in (5, 64, 1000, 10**6):
        got = [
            ln for split in split_files(files, size) for b in read_text(split) for ln in b.records
        ]
        assert got == lines, size


def test_compressed_file_is_one_split_and_hidden_files_skipped(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "a.txt.gz", "wt") as f:
        f.write("one\ntwo\n")
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / ".hidden").write_text("x\n")
    files = list_inputs((str(tmp_path),))
    assert [Path(f.path).name for f in files] == ["a.txt.gz"]
    splits = split_files(files, 1)
    assert len(splits) == 1
    assert [ln for b in read_text(splits[0]) for ln in b.records] == ["one", "two"]


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.text("ab\n", max_size=12), max_size=30),
    st.integers(1, 40),
    st.integers(1, 16),
)
def test_blocks_are_whole_lines_at_their_offsets_for_any_split_and_chunk(
    tmp_path_factory: pytest.TempPathFactory, pieces: list[str], split: int, chunk: int
) -> None:
    data = "".join(pieces).encode()  # empty lines, a missing last newline, long lines
    path = tmp_path_factory.mktemp("b") / "a.txt"
    path.write_bytes(data)
    blocks = [
        (offset, block)
        for s in split_files(list_inputs((str(path),)), split)
        for offset, block in _line_blocks(s, chunk)
    ]
    assert b"".join(b for _, b in blocks) == data  # every byte once, in order
    for offset, block in blocks:
        assert data[offset : offset + len(block)] == block
        assert block.endswith(b"\n") or offset + len(block) == len(data)  # whole lines
