"""count_by_value on pyarrow tables equals collections.Counter, including merges and spills."""

from __future__ import annotations

import collections
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import gristmill as gm
from gristmill.runtime.pipeline import BATCH
from gristmill.shuffle import arrow_counts, arrow_sums, combine_writer
from gristmill.shuffle.arrow_counts import ArrowCounts, countable


def test_counts_match_counter_across_many_merges() -> None:
    rng = random.Random(3)
    counts = ArrowCounts(pending_bytes=200)  # count often, merge often
    expected: collections.Counter[str | None] = collections.Counter()
    for _ in range(3 * arrow_counts.MERGE_EVERY + 1):
        values = [rng.choice(["a", "b", "ccc", "", None]) for _ in range(rng.randint(0, 50))]
        table = pa.table({"item": pa.array(values, pa.string())})
        assert counts.accepts(table)
        counts.add(table)
        expected.update(values)
    table = counts.take()
    assert table is not None
    assert dict(arrow_sums.pairs(table)) == {k: n for k, n in expected.items() if n}
    assert counts.pending_bytes == len(counts) == 0


def test_only_hashable_single_columns_of_one_type_are_taken() -> None:
    assert not countable(pa.table({"a": [1], "b": [2]}))
    assert not countable(pa.table({"item": pa.array([None, None])}))
    counts = ArrowCounts()
    counts.add(pa.table({"item": [1, 2]}))
    assert not counts.accepts(pa.table({"item": ["x"]}))  # another type: counted as records


def _words(table: pa.Table) -> pa.Array:
    return pc.list_flatten(pc.utf8_split_whitespace(table["item"]))


def test_a_second_column_type_is_counted_as_records(tmp_path: Path) -> None:
    # The first batch becomes an int64 column, the second a string column: the second type
    # goes the Counter way and both meet at the spill.
    def relabel(batch: pa.Table) -> pa.Array:
        numbers = batch["item"].to_pylist()
        if numbers[0] == 0:
            return pa.array([n % 11 for n in numbers])
        return pa.array([f"w{n % 7}" for n in numbers])

    n = 6000
    ds = gm.from_items(range(n), partitions=1).map_batches(relabel, batch_format="pyarrow")
    got = dict(ds.count_by_value(3).collect(config=gm.Config(executor="inline", progress=False)))
    first = BATCH
    expected: collections.Counter[int | str] = collections.Counter(i % 11 for i in range(first))
    expected.update(f"w{i % 7}" for i in range(first, n))
    assert got == dict(expected)


def test_columnar_word_count_spilling_under_a_tiny_budget(tmp_path: Path) -> None:
    rng = random.Random(5)
    lines = [" ".join(f"w{rng.randint(0, 30000)}" for _ in range(12)) for _ in range(20000)]
    path = tmp_path / "text.txt"
    path.write_text("\n".join(lines) + "\n")
    cfg = gm.Config(executor="inline", memory=2 * 1024**2, split_size=256 * 1024, progress=False)
    result = (
        gm.read_text(str(path))
        .map_batches(_words, batch_format="pyarrow")
        .count_by_value(4)
        .write_text(str(tmp_path / "out"), config=cfg)
    )
    assert result.counters["shuffle.spills"] > 0, "the budget should force spills"
    got = {}
    for part in sorted((tmp_path / "out").glob("part-*")):
        for line in part.read_text().splitlines():
            word, n = line.split("\t")
            got[word] = int(n)
    assert got == dict(collections.Counter(" ".join(lines).split()))


@pytest.mark.parametrize("as_tables", [True, False])
def test_counted_tables_cross_the_shuffle_as_tables(
    tmp_path: Path, as_tables: bool, count_calls: Callable[[Any, str], list[int]]
) -> None:
    # String counts go on as table frames (nulls go as records: None is a value too); the
    # text is the records' text either way.
    table_frames = count_calls(combine_writer.CombineWriter, "_flush_table")
    rng = random.Random(8)
    words = [
        rng.choice(["a", "bb", "é", "", None] if not as_tables else ["a", "bb", "é", ""])
        for _ in range(30_000)
    ]
    cfg = gm.Config(executor="inline", progress=False)
    outs = []
    for name, fmt in (("cols", "pyarrow"), ("recs", "default")):
        ds = gm.from_items(words, partitions=4)
        if fmt == "pyarrow":
            ds = ds.map_batches(lambda t: t, batch_format="pyarrow")
        ds.count_by_value(3).write_text(str(tmp_path / name), config=cfg)
        outs.append("".join(p.read_text() for p in sorted((tmp_path / name).glob("part-*"))))
    assert outs[0] == outs[1]
    expected = collections.Counter(words)
    got = {}
    for line in outs[0].splitlines():
        word, n = line.rsplit("\t", 1)
        got[None if word == "None" else word] = int(n)
    assert got == dict(expected)
    assert bool(table_frames) == as_tables
