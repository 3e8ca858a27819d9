"""reduce_by_key(operator.add) on (key, value) pyarrow tables: the same output as records,
summed as tables on both sides of the shuffle, checked against a plain-Python dict."""

from __future__ import annotations

import collections
import operator
import pickle
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import gristmill as gm
from gristmill.runtime.sinks import table_text, text_lines
from gristmill.shuffle import arrow_sums, combine_writer, reader
from gristmill.shuffle.arrow_sums import ArrowSums, partition_ids, sort_by_key, summable
from gristmill.shuffle.keys import stable_hash
from gristmill.shuffle.runfile import _TableFrame

INLINE = gm.Config(executor="inline", progress=False)
ALPHABET = ["a", "b", "\x00", "é", "z", "日", "\U0001f600", "k0", "\t"]


def _word(rng: random.Random, longest: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, longest)))


def test_partitions_are_the_records_partitions() -> None:
    rng = random.Random(5)
    edges = [0, 1, -1, -2, 2**61 - 1, 2**61, -(2**61), -(2**61) - 1, 2**63 - 1, -(2**63)]
    ints = edges + [rng.randint(-(2**63), 2**63 - 1) for _ in range(5000)]
    words = [_word(rng, 12) for _ in range(3000)]
    column = pa.chunked_array([words[:1000], words[1000:]])
    for n in (1, 7, 200):
        got = partition_ids(pa.chunked_array([pa.array(ints, pa.int64())]), n).tolist()
        assert got == [stable_hash(k) % n for k in ints]
        assert partition_ids(column, n).tolist() == [stable_hash(w) % n for w in words]
        sliced = column.combine_chunks().slice(17, 900)
        assert partition_ids(sliced, n).tolist() == [stable_hash(w) % n for w in words[17:917]]


@pytest.mark.parametrize("longest", [3, 9, 20, 40])  # 40 bytes and more: pyarrow's sort
def test_keys_sort_as_python_sorts_them(longest: int) -> None:
    rng = random.Random(longest)
    for _ in range(100):
        keys = list({_word(rng, longest) for _ in range(rng.randint(1, 300))})
        table = pa.table({"key": pa.array(keys, pa.string()), "value": range(len(keys))})
        table = table.slice(rng.randint(0, len(keys) - 1))  # offsets not starting at 0
        got = sort_by_key(table)
        assert got["key"].to_pylist() == sorted(table["key"].to_pylist())
        assert dict(zip(*got.columns, strict=True)) == dict(zip(*table.columns, strict=True))
    ints = [rng.randint(-(2**63), 2**63 - 1) for _ in range(1000)]
    table = pa.table({"key": pa.array(ints, pa.int64()), "value": ints})
    assert sort_by_key(table)["key"].to_pylist() == sorted(ints)


def test_sums_equal_a_dict_across_piles_and_merges() -> None:
    rng = random.Random(2)
    sums = ArrowSums(pending_bytes=300)  # sum often, merge often
    expected: collections.Counter[str] = collections.Counter()
    for _ in range(3 * arrow_sums.MERGE_EVERY + 2):
        rows = [(rng.choice(["a", "bb", "", "é"]), rng.randint(-9, 9)) for _ in range(40)]
        table = summable(pa.table({"key": [k for k, _ in rows], "value": [v for _, v in rows]}))
        assert table is not None and sums.accepts(table) is not None
        sums.add(table)
        for key, value in rows:
            expected[key] += value
    table = sums.take(final=True)
    assert table is not None and sorted(arrow_sums.pairs(table)) == sorted(expected.items())
    assert sums.take(final=True) is None and sums.nbytes == 0


def test_the_map_side_stops_summing_keys_that_do_not_repeat() -> None:
    unique = ArrowSums(1 << 30, adaptive=True)
    repeated = ArrowSums(1 << 30, adaptive=True)
    n = arrow_sums.MIN_PILE_ROWS
    unique.add(pa.table({"key": pa.array(np.arange(n)), "value": pa.array(np.ones(n, int))}))
    keys = pa.array(np.arange(n) % 1000)
    repeated.add(pa.table({"key": keys, "value": pa.array(np.ones(n, int))}))
    assert not unique.combining and repeated.combining
    assert len(repeated) == 1000


@pytest.mark.parametrize(
    "table",
    [
        pa.table({"key": ["a"], "value": [1.5]}),  # float sums depend on their order
        pa.table({"key": ["a"], "value": [True]}),  # True alone stays True as a record
        pa.table({"key": ["a"], "value": pa.array([1], pa.uint64())}),
        pa.table({"key": ["a", None], "value": [1, 2]}),
        pa.table(
            {"key": ["a"], "value": [None]},
            schema=pa.schema([("key", pa.string()), ("value", pa.int64())]),
        ),
        pa.table({"key": [1.0], "value": [1]}),
        pa.table({"key": ["a"], "value": [1], "other": [2]}),
    ],
)
def test_tables_whose_sums_could_differ_go_as_records(table: pa.Table) -> None:
    assert summable(table) is None


def test_a_table_that_could_overflow_int64_is_refused() -> None:
    sums = ArrowSums()
    big = pa.table({"key": ["a", "b"], "value": [2**61, 1]})
    assert sums.accepts(big) is not None
    sums.add(big)
    sums.add(big)  # bound 2 * 2**62 = 2**63 - ... one more could overflow
    assert sums.accepts(big) is None


def _split(lines: pa.Table) -> pa.Table:
    import pyarrow.compute as pc

    fields = pc.split_pattern(lines["item"], " ", max_splits=1)
    return pa.table(
        {
            "key": pc.list_element(fields, 0),
            "value": pc.cast(pc.list_element(fields, 1), pa.int64()),
        }
    )


def _oracle(lines: list[str]) -> list[str]:
    sums: dict[str, int] = {}
    for line in lines:
        key, value = line.split(" ", 1)
        sums[key] = sums.get(key, 0) + int(value)
    return [f"{k}\t{v}" for k, v in sorted(sums.items())]


def _lines(n: int, keys: int, seed: int, big: bool = False) -> list[str]:
    rng = random.Random(seed)
    top = 2**62 if big else 1000
    return [
        f"k{rng.randint(0, keys):05d}{rng.choice(['', 'é'])} {rng.randint(-top, top)}"
        for _ in range(n)
    ]


def _text(out: Path) -> str:
    return "".join(p.read_text() for p in sorted(out.glob("part-*")))


@pytest.mark.parametrize("executor", ["inline", "local"])
@pytest.mark.parametrize(("keys", "big"), [(40, False), (50_000, False), (40, True)])
def test_columnar_sums_write_the_records_output(
    tmp_path: Path,
    executor: str,
    keys: int,
    big: bool,
    count_calls: Callable[[Any, str], list[int]],
) -> None:
    data = _lines(60_000, keys, seed=keys, big=big)
    src = tmp_path / "in.txt"
    src.write_text("\n".join(data) + "\n")
    cfg = gm.Config(executor=executor, workers=2, progress=False, split_size=256 * 1024)
    frames = count_calls(combine_writer.CombineWriter, "_flush_table")
    tables = gm.read_text(str(src), batch_format="pyarrow").map_batches(
        _split, batch_format="pyarrow"
    )
    tables.reduce_by_key(operator.add, 3).write_text(str(tmp_path / "cols"), config=cfg)
    records = gm.read_text(str(src)).map(lambda s: (s.split(" ")[0], int(s.split(" ")[1])))
    records.reduce_by_key(operator.add, 3).write_text(str(tmp_path / "recs"), config=cfg)
    assert _text(tmp_path / "cols") == _text(tmp_path / "recs")  # byte for byte
    assert sorted(_text(tmp_path / "cols").splitlines()) == _oracle(data)
    if executor == "inline" and not big:
        assert frames, "the tables never reached the shuffle as tables"


def test_tables_and_records_in_one_shuffle_meet(
    count_calls: Callable[[Any, str], list[int]],
) -> None:
    # Even map batches return tables, odd ones records; keys 1 and True are one key, and the
    # first kept (as with records alone): the output is the dict's.
    def mixed(batch: list[int]) -> Any:
        rows = [(i % 50 if i % 7 else True, i) for i in batch]
        if batch[0] // 1000 % 2:
            return rows
        return pa.table({"key": [int(k) for k, _ in rows], "value": [v for _, v in rows]})

    items = list(range(20_000))
    ds = gm.from_items(items, partitions=8).map_batches(lambda b: mixed(b) if b else b)
    expected: dict[Any, int] = {}
    for batch_start in range(0, len(items), 1000):
        for key, value in [
            (i % 50 if i % 7 else True, i) for i in items[batch_start : batch_start + 1000]
        ]:
            expected[key] = expected.get(key, 0) + value
    tables = count_calls(ArrowSums, "add")
    table_frames = count_calls(combine_writer.CombineWriter, "_flush_table")
    got = ds.reduce_by_key(operator.add, 3).collect(config=INLINE)
    assert dict(got) == {int(k): v for k, v in expected.items()}
    assert tables and table_frames  # both kinds of map output were there


def test_a_reducer_past_its_budget_spills_the_sums(
    tmp_path: Path, count_calls: Callable[[Any, str], list[int]]
) -> None:
    spills = count_calls(reader, "spill_sorted")
    data = _lines(200_000, 150_000, seed=9)
    src = tmp_path / "in.txt"
    src.write_text("\n".join(data) + "\n")
    cfg = gm.Config(executor="inline", memory=2 * 1024**2, progress=False)
    tables = gm.read_text(str(src), batch_format="pyarrow").map_batches(
        _split, batch_format="pyarrow"
    )
    tables.reduce_by_key(operator.add, 2).write_text(str(tmp_path / "out"), config=cfg)
    assert spills and sorted(_text(tmp_path / "out").splitlines()) == _oracle(data)


def test_table_text_is_the_records_text() -> None:
    rng = random.Random(4)
    for _ in range(50):
        keys = [_word(rng, 6) for _ in range(rng.randint(1, 40))]
        values = [rng.randint(-(2**63), 2**63 - 1) for _ in keys]
        table = pa.table({"key": keys, "value": values}).slice(rng.randint(0, len(keys) - 1))
        records = list(zip(table["key"].to_pylist(), table["value"].to_pylist(), strict=True))
        assert table_text(table) == text_lines(records)
        lines = pa.table({"item": pa.array(keys, pa.large_string())})
        assert table_text(lines) == text_lines(keys)
    assert table_text(pa.table({"key": ["a"], "value": [0.1]})) is None
    assert table_text(pa.table({"key": ["a", None], "value": [1, 2]})) is None


def test_a_table_frame_holds_only_its_rows() -> None:
    table = pa.table({"key": [f"k{i}" for i in range(100_000)], "value": range(100_000)})
    piece = table.slice(500, 10)
    data = pickle.dumps(_TableFrame(piece), protocol=pickle.HIGHEST_PROTOCOL)
    assert len(data) < 5000  # pickling the slice itself writes all 100,000 rows
    assert pickle.loads(data).equals(piece)


def test_the_c_loops_refuse_bad_offsets() -> None:
    strings = pytest.importorskip("gristmill.shuffle._strings")
    out = np.empty(2, np.uint32)
    with pytest.raises(ValueError, match="offsets"):
        strings.crc32_each(np.array([0, 5, 3], np.int32), b"abcde", out)
    with pytest.raises(ValueError, match="offsets"):
        strings.crc32_each(np.array([0, 2, 9], np.int32), b"abcde", out)
    with pytest.raises(ValueError, match="longer"):
        strings.pad_each(np.array([0, 5], np.int32), b"abcde", np.empty((1, 4), np.uint8))


def _keyed_table(batch: list[int]) -> pa.Table:
    keys = [f"k{i % 700}" for i in batch]
    return pa.table({"key": keys, "value": batch})


def _keyed_records(batch: list[int]) -> list[tuple[str, int]]:
    return [(f"k{i % 700}", i) for i in batch]


def test_a_list_map_batches_after_the_sums_sees_the_records_batches() -> None:
    # A reducer hands on tables; a default-format fn must still get lists, cut as records are.
    def shape(batch: Any) -> list[Any]:
        return [(type(batch).__name__, len(batch), sum(v for _, v in batch))]

    got = []
    for source in (_keyed_table, _keyed_records):
        ds = gm.from_items(range(30_000), partitions=4).map_batches(source)
        got.append(ds.reduce_by_key(operator.add, 2).map_batches(shape).collect(config=INLINE))
    assert got[0] == got[1] and {kind for kind, _, _ in got[0]} == {"list"}


@pytest.mark.parametrize("memory", [512 * 1024**2, 1024**2])
def test_parquet_after_the_sums_is_the_records_parquet(tmp_path: Path, memory: int) -> None:
    import pyarrow.parquet as pq

    cfg = gm.Config(executor="inline", progress=False, memory=memory)
    tables = []
    for name, source in (("cols", _keyed_table), ("recs", _keyed_records)):
        ds = gm.from_items(range(60_000), partitions=4).map_batches(source)
        ds.reduce_by_key(operator.add, 2).write_parquet(str(tmp_path / name), config=cfg)
        tables.append(pq.read_table(tmp_path / name))
    expected: dict[str, int] = collections.Counter()
    for i in range(60_000):
        expected[f"k{i % 700}"] += i
    assert tables[0].equals(tables[1])
    assert dict(zip(*tables[0].to_pydict().values(), strict=True)) == expected


def test_required_columns_are_summed_too() -> None:
    # A non-nullable value field (a required Parquet column) must meet group_by's output.
    schema = pa.schema([("key", pa.string()), pa.field("value", pa.int64(), nullable=False)])

    def unique(batch: list[int]) -> pa.Table:
        keys = [f"k{i}-{j}" for i in batch for j in range(30)]
        return pa.table({"key": keys, "value": [1] * len(keys)}, schema=schema)

    ds = gm.from_items(range(20_000), partitions=1).map_batches(unique)
    got = ds.reduce_by_key(operator.add, 2).collect(config=INLINE)
    assert len(got) == 600_000 and {v for _, v in got} == {1}


def test_the_c_loops_refuse_an_output_over_their_input() -> None:
    strings = pytest.importorskip("gristmill.shuffle._strings")
    offsets = np.array([0, 1, 2, 3], np.int32)
    with pytest.raises(ValueError, match="share memory"):
        strings.crc32_each(offsets, b"abcd", offsets[1:].view(np.uint32))


class _Word(str):
    pass


@pytest.mark.parametrize(
    ("key", "value", "as_table"),
    [
        (lambda i: f"w{i % 900}", lambda i: i, True),  # str keys, int sums: a table
        (lambda i: f"w{i % 900}", lambda i: 2**70 + i, False),  # past int64
        (lambda i: f"w{i}", lambda i: i % 2 == 0, False),  # a bool alone stays a bool
        (lambda i: f"\udc80{i % 900}", lambda i: i, False),  # a lone surrogate: no UTF-8
        (lambda i: _Word(f"w{i % 900}"), lambda i: i, False),  # a str subclass
        (lambda i: i % 900, lambda i: i, False),  # int keys stay records
    ],
)
def test_record_sums_cross_as_tables_only_when_exact(
    key: Callable[[int], Any],
    value: Callable[[int], Any],
    as_table: bool,
    count_calls: Callable[[Any, str], list[int]],
) -> None:
    table_frames = count_calls(combine_writer.CombineWriter, "_flush_table")
    rows = [(key(i), value(i)) for i in range(20_000)]
    expected: dict[Any, Any] = {}
    for k, v in rows:
        expected[k] = expected[k] + v if k in expected else v
    got = gm.from_items(rows, partitions=4).reduce_by_key(operator.add, 3).collect(config=INLINE)
    assert dict(got) == expected and len(got) == len(expected)
    assert [type(v) for _, v in got] == [type(expected[k]) for k, _ in got]
    assert bool(table_frames) == as_table


def test_a_small_records_sum_never_imports_pyarrow() -> None:
    # pyarrow costs a worker ~30MB and 0.1 s: records sums under 64MB stay pure Python.
    import subprocess
    import sys

    code = (
        "import operator, sys, gristmill as gm\n"
        "cfg = gm.Config(executor='inline', progress=False)\n"
        "rows = [(f'w{i % 300}', i) for i in range(20000)]\n"
        "ds = gm.from_items(rows, partitions=4)\n"
        "got = ds.reduce_by_key(operator.add, 3).collect(config=cfg)\n"
        "got += ds.map(lambda r: r[0]).count_by_value().collect(config=cfg)\n"
        "assert len(got) == 600, len(got)\n"
        "print('pyarrow' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_binary_output_of_sums_names_the_record(tmp_path: Path) -> None:
    ds = gm.from_items([("a", 1), ("b", 2)], partitions=1).map_batches(
        lambda b: pa.table({"key": [k for k, _ in b], "value": [v for _, v in b]})
    )
    with pytest.raises(gm.JobFailedError, match=r"got tuple: \('a', 1\)"):
        ds.reduce_by_key(operator.add, 1).write_binary_records(str(tmp_path / "o"), config=INLINE)
