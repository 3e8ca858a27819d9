"""JSON lines read as json.loads reads each; blank, padded and bad lines take the careful path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gristmill.errors import InputFormatError
from gristmill.io.formats import read_jsonl
from gristmill.io.fs import list_inputs
from gristmill.io.splits import split_files

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(st.characters(blacklist_categories=["Cs"]), max_size=6),
)
values = st.recursive(
    scalars,
    lambda kids: st.one_of(
        st.lists(kids, max_size=3), st.dictionaries(st.text(max_size=3), kids, max_size=3)
    ),
    max_leaves=8,
)
# A line is a value as json.dumps writes it, or padded with spaces, or blank.
lines = st.lists(st.tuples(values, st.sampled_from(["", " ", "\t"]), st.booleans()), max_size=60)


def _read(path: Path, split_size: int, on_bad: Any = None) -> list[Any]:
    splits = split_files(list(list_inputs((str(path),))), split_size)
    return [r for s in splits for b in read_jsonl(s, on_bad, 256) for r in b.records]


@settings(max_examples=60, deadline=None)
@given(lines, st.integers(16, 600))
def test_values_equal_json_loads_of_each_line(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[tuple[Any, str, bool]],
    split_size: int,
) -> None:
    text = [f"{pad}{json.dumps(v)}{pad}" if not blank else pad for v, pad, blank in rows]
    path = tmp_path_factory.mktemp("jsonl") / "t.jsonl"
    path.write_text("".join(line + "\n" for line in text), encoding="utf-8")
    expected = [json.loads(line) for line in text if line.strip()]
    assert _read(path, split_size) == expected


def test_a_bad_line_among_good_ones_is_named_or_skipped(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n[2]\n{"a": 3\n4\n1 2\n')
    with pytest.raises(InputFormatError, match=r"malformed JSON .* at .*bad.jsonl.* line 3"):
        _read(path, 1 << 20)
    skipped: list[str] = []
    got = _read(path, 1 << 20, lambda where, why: skipped.append(where))
    assert got == [{"a": 1}, [2], 4]
    assert [w.rsplit("line ", 1)[1].split()[0].strip("),") for w in skipped] == ["3", "5"]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.text(
            st.characters(blacklist_characters="\n\r", blacklist_categories=["Cs"]), max_size=300
        ),
        max_size=30,
    ),
    st.booleans(),
    st.sampled_from([16, 64, 1000]),
)
def test_compressed_lines_cross_reads_whole(
    tmp_path_factory: pytest.TempPathFactory, text: list[str], final_newline: bool, chunk: int
) -> None:
    import gzip

    from gristmill.io.formats import read_text

    body = "\n".join(text) + ("\n" if final_newline and text else "")
    path = tmp_path_factory.mktemp("gz") / "t.txt.gz"
    path.write_bytes(gzip.compress(body.encode()))
    (split,) = split_files(list(list_inputs((str(path),))), 1 << 20)
    got = [line for b in read_text(split, None, chunk) for line in b.records]
    expected = body.split("\n")
    if expected[-1] == "":  # a final newline ends the last line; an empty file has none
        expected.pop()
    assert got == expected


def test_a_line_of_other_unicode_whitespace_is_a_bad_line(tmp_path: Path) -> None:
    spaces = [c for c in map(chr, range(0x3000 + 1)) if c.isspace() and c not in " \t\r\n"]
    path = tmp_path / "ws.jsonl"
    text = ["1", " ", "\t 2 "] + [f"{c}" for c in spaces] + ["3", ""]
    path.write_bytes("\n".join(text).encode() + b"\n")
    good, bad = [], []
    for number, line in enumerate(path.read_bytes().decode().split("\n")[:-1], 1):
        if not line.strip(" \t\r"):
            continue  # json's whitespace: a blank line
        try:
            good.append(json.loads(line))
        except json.JSONDecodeError:
            bad.append(number)
    assert good == [1, 2, 3] and len(bad) == len(spaces)
    with pytest.raises(InputFormatError, match=r"malformed JSON .* at .*ws\.jsonl.* line 4"):
        _read(path, 1 << 20)
    skipped: list[str] = []
    assert _read(path, 1 << 20, lambda where, why: skipped.append(where)) == good
    assert [int(w.split("line ")[1].split()[0]) for w in skipped] == bad
    # Small splits: batches of one or two lines, which the fast path takes first.
    assert _read(path, 8, lambda where, why: skipped.append(where)) == good
    assert len(skipped) == 2 * len(bad)


def test_origin_locates_every_line_of_a_block() -> None:
    from gristmill.io.formats import Origin

    raw = b"a\nbb\n\nccc\nd"
    origin = Origin("f", 100, 7, raw)
    starts = [0, 2, 5, 6, 10]
    for index, start in enumerate(starts):
        line = raw[start:].split(b"\n", 1)[0].decode()
        assert origin.locate(index) == f"f, line {7 + index} (byte offset {100 + start}): {line!r}"
