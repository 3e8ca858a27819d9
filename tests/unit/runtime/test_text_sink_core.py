"""The text sink's batch formatting against its one-record definition (`text_line`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gristmill.plan.sinks import Sink, SinkKind
from gristmill.runtime import sinks
from gristmill.runtime.sinks import SinkWriter, text_line, text_lines
from gristmill.shuffle.reader import Values

scalars = st.one_of(
    st.text(max_size=5), st.integers(), st.floats(allow_nan=False), st.none(), st.booleans()
)
records = st.one_of(
    st.tuples(scalars, scalars),  # the usual keyed pair
    st.tuples(scalars, st.lists(scalars, max_size=3)),
    st.tuples(scalars, scalars, scalars),
    st.lists(scalars, min_size=2, max_size=2),  # a pair as a list is str()-ed, not split
    scalars,
)


def oracle(batch: list[Any]) -> str:
    return "".join(text_line(record) + "\n" for record in batch)


@given(st.lists(records, max_size=20))
def test_batches_format_as_their_records_one_by_one(batch: list[Any]) -> None:
    assert text_lines(batch) == oracle(batch)


@given(st.lists(st.tuples(scalars, scalars), min_size=1, max_size=20))
def test_pure_pair_batches_take_the_fast_path_with_the_same_text(batch: list[Any]) -> None:
    assert text_lines(batch) == oracle(batch)


@given(st.lists(st.text(max_size=8), min_size=1, max_size=20))
def test_str_batches_take_the_join_path_with_the_same_text(batch: list[str]) -> None:
    assert text_lines(batch) == oracle(batch)


def test_a_group_of_values_in_a_pair_batch_is_written_as_its_list() -> None:
    batch = [("a", 1), ("b", Values(iter([1, 2])))]
    assert text_lines(batch) == "a\t1\nb\t[1, 2]\n"


@pytest.mark.parametrize("kind", [SinkKind.TEXT, SinkKind.JSONL])
def test_small_batches_are_written_whole_and_in_order_across_flushes(
    kind: SinkKind, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A selective filter hands the sink a few records per pass; they are held as text and
    # written in pieces of PENDING_CHARS (made small here, so there are many pieces).
    monkeypatch.setattr(sinks, "PENDING_CHARS", 50)
    batches = [[(f"k{i}", j) for j in range(i % 4)] for i in range(300)]
    batches = [b for b in batches if b]
    writer = SinkWriter(Sink(kind), str(tmp_path / "part"))
    for batch in batches:
        writer.write(batch)
    result = writer.close()
    records = [r for b in batches for r in b]
    text = (tmp_path / "part").read_text(encoding="utf-8")
    if kind is SinkKind.TEXT:
        assert text == "".join(f"{k}\t{v}\n" for k, v in records)
    else:
        assert [tuple(json.loads(line)) for line in text.splitlines()] == records
    assert result.records == len(records)
    assert result.bytes == len(text.encode())
