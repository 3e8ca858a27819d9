"""The C sums by str key (`shuffle/_strsums.c`) against the Python fold and `Counter`.

The table takes pairs while they are (exact str, exact int) and their sums stay in int64;
the first other pair is handed back and, with the table's sums moved into a dict first, the
Python loop goes on. The result must be the Python loop's: the same keys in the same order,
the same value types, the same failure for a pair Python cannot unpack.
"""

from __future__ import annotations

import collections
import operator
import random
import tracemalloc
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gristmill as gm
from gristmill.api.execute import plan_for
from gristmill.plan.logical import Aggregator, ShuffleKind, ShuffleSpec
from gristmill.plan.sinks import Sink, SinkKind
from gristmill.plan.stages import ShuffleOutput
from gristmill.runtime.scheduler import run_job
from gristmill.shuffle import arrow_sums, combine_writer, fold, writer
from gristmill.shuffle.fold import _python_fold, new_str_sums, take_str_sums

pytestmark = pytest.mark.skipif(new_str_sums() is None, reason="built without a C compiler")

INT64_MAX = (1 << 63) - 1


class _Word(str):
    pass


def _python(acc: dict[Any, Any], items: Iterable[Any], *, counting: bool) -> None:
    if counting:
        for key in items:
            acc[key] = acc.get(key, 0) + 1
    else:
        _python_fold(acc, items, operator.add, None)


def _outcome(items: list[Any], *, counting: bool, table_first: bool) -> tuple[Any, ...]:
    """The dict left (keys, their order, value types) or the failure: with `table_first`
    as the map-side combine does it (the table while it holds the items, then a dict)."""
    acc: dict[Any, Any] = {}
    try:
        rest: Iterable[Any] | None = items
        if table_first:
            sums = new_str_sums()
            assert sums is not None
            _, rest = take_str_sums(sums, iter(items), counting=counting)
            sums.drain_into(acc)
        if rest is not None:
            _python(acc, rest, counting=counting)
    except Exception as exc:
        return ("raised", type(exc), str(exc))
    return ("ok", acc, list(acc), [type(v) for v in acc.values()])


str_keys = st.sampled_from(["", "a", "b", "é", "日本", "\U0001f600", "a" * 17, "a" * 40, "\x00"])
odd_keys = st.one_of(
    st.sampled_from([_Word("a"), "\udc80", 1, True, 1.0, ("a",)]),
)
ints = st.one_of(
    st.integers(-5, 5),
    st.sampled_from([INT64_MAX, -INT64_MAX - 1, 1 << 62, 1 << 64, -(1 << 70)]),
)
odd_values = st.sampled_from([True, 1.5, "x", None, [1]])
pairs = st.one_of(
    st.tuples(str_keys, ints),
    st.tuples(str_keys, ints),
    st.tuples(str_keys, ints),
    st.tuples(odd_keys, ints),
    st.tuples(str_keys, odd_values),
)
items = st.one_of(pairs, pairs, pairs, pairs, st.sampled_from([("a",), ("a", 1, 2), "ab"]))


@settings(max_examples=400, deadline=None)
@given(st.lists(items, max_size=60))  # the C loop takes items 16 ahead: several batches
def test_sums_are_the_python_folds(batch: list[Any]) -> None:
    by_table = _outcome(batch, counting=False, table_first=True)
    assert by_table == _outcome(batch, counting=False, table_first=False)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(str_keys, str_keys, odd_keys), max_size=60))
def test_counts_are_the_python_counts(keys: list[Any]) -> None:
    by_table = _outcome(keys, counting=True, table_first=True)
    assert by_table == _outcome(keys, counting=True, table_first=False)


def test_many_keys_through_every_resize_and_as_arrow_buffers() -> None:
    rng = random.Random(3)
    words = [
        "".join(rng.choice("abcé日\U0001f600") for _ in range(rng.randint(0, 30)))
        for _ in range(300_000)
    ]
    pairs_ = [(w, rng.randint(-1000, 1000)) for w in words]
    expected: dict[str, int] = {}
    for key, value in pairs_:
        expected[key] = expected.get(key, 0) + value
    sums = new_str_sums()
    assert sums is not None
    assert take_str_sums(sums, iter(pairs_)) == (len(pairs_), None)
    assert len(sums) == len(expected) and sums.items() == list(expected.items())
    table = arrow_sums.table_of_buffers(*sums.take_buffers())
    assert len(sums) == 0 and sums.items() == []  # handed over: the table starts again
    assert table.column("key").to_pylist() == list(expected)
    assert table.column("value").to_pylist() == list(expected.values())
    assert take_str_sums(sums, iter(pairs_[:3])) == (3, None) and len(sums) == 3
    counts = new_str_sums()
    assert counts is not None
    assert take_str_sums(counts, iter(words), counting=True) == (len(words), None)
    assert dict(counts.items()) == collections.Counter(words)


@pytest.mark.parametrize("good", [0, 5, 16, 17, 40])
def test_an_iterator_error_comes_after_the_items_before_it(good: int) -> None:
    # As a for loop: what came before the error is added, then the error propagates.
    def pairs_then_error() -> Any:
        yield from ((f"k{i % 7}", i) for i in range(good))
        raise KeyError("from the iterator")

    sums = new_str_sums()
    assert sums is not None
    with pytest.raises(KeyError, match="from the iterator"):
        take_str_sums(sums, pairs_then_error())
    expected: dict[str, int] = {}
    for i in range(good):
        expected[f"k{i % 7}"] = expected.get(f"k{i % 7}", 0) + i
    assert sums.items() == list(expected.items())


class _Ends:
    """A class iterator: its __next__ raises StopIteration itself (or `error` at the end)."""

    def __init__(self, items: list[Any], error: Exception | None = None) -> None:
        self.items, self.error = list(items), error

    def __iter__(self) -> _Ends:
        return self

    def __next__(self) -> Any:
        if self.items:
            return self.items.pop(0)
        if self.error is not None:
            raise self.error
        raise StopIteration


@pytest.mark.parametrize("error", [None, KeyError("boom")])
def test_an_end_in_the_batch_of_a_refused_pair_comes_after_it(error: Exception | None) -> None:
    # The refused pair and the iterator's end (or error) are in one batch: the pair is folded
    # in Python, then the loop ends (or raises) as a for loop would.
    items = [("a", INT64_MAX), ("b", 2), ("a", 1), ("b", 3)]
    expected: dict[str, int] = {}
    for key, value in items:
        expected[key] = expected.get(key, 0) + value
    sums = new_str_sums()
    assert sums is not None
    acc: dict[Any, Any] = {}
    _, rest = take_str_sums(sums, _Ends(items, error))
    sums.drain_into(acc)
    assert rest is not None
    if error is None:
        _python_fold(acc, rest, operator.add, None)
    else:
        with pytest.raises(KeyError, match="boom"):
            _python_fold(acc, rest, operator.add, None)
    assert acc == expected


def test_a_sum_past_int64_hands_the_pair_back_unchanged() -> None:
    sums = new_str_sums()
    assert sums is not None
    items = [("a", INT64_MAX), ("b", 1), ("a", 1), ("b", 2)]
    taken, rest = take_str_sums(sums, iter(items))
    assert taken == 2 and rest is not None and list(rest) == items[2:]
    assert sums.items() == [("a", INT64_MAX), ("b", 1)]


@pytest.mark.parametrize("executor", ["inline", "local"])
@pytest.mark.parametrize("distinct", [300, 70_000])
def test_jobs_sum_and_count_str_keys_exactly(executor: str, distinct: int) -> None:
    # 70,000 keys cross the shuffle as a table (TABLE_MIN_KEYS), 300 as records; the
    # second half of the values overflow int64 once summed, the key 7 is an int.
    rng = random.Random(distinct)
    rows: list[tuple[Any, int]] = [
        (f"k{rng.randrange(distinct)}", rng.randint(-50, 50)) for _ in range(150_000)
    ]
    rows += [("big", 1 << 62)] * 4 + [(7, 1)]
    expected: dict[Any, int] = {}
    for key, value in rows:
        expected[key] = expected.get(key, 0) + value
    cfg = gm.Config(executor=executor, workers=2, progress=False)
    ds = gm.from_items(rows, partitions=3)

    def run(out: gm.Dataset) -> Any:
        return run_job(plan_for(out.node, cfg), Sink(SinkKind.COLLECT), cfg)

    job = run(ds.reduce_by_key(operator.add, 4))
    assert dict(job.records) == expected and len(job.records) == len(expected)
    assert [type(v) for _, v in job.records] == [int] * len(expected)
    assert job.result.counters["map.output_records"] == len(rows)
    counted = run(ds.map(operator.itemgetter(0)).count_by_value(4))
    assert dict(counted.records) == collections.Counter(k for k, _ in rows)
    assert counted.result.counters["map.output_records"] == len(rows)


def test_many_keys_cross_as_a_table_where_the_budget_has_room(
    count_calls: Any,
) -> None:
    frames = count_calls(combine_writer.CombineWriter, "_flush_table")
    rows = [(f"w{i}", 1) for i in range(combine_writer.TABLE_MIN_KEYS + 10)]
    cfg = gm.Config(executor="inline", progress=False)
    got = gm.from_items(rows, partitions=1).reduce_by_key(operator.add, 2).collect(config=cfg)
    assert sorted(got) == sorted(rows) and frames
    assert fold.new_str_sums() is not None


def test_a_pair_the_table_refuses_spills_sums_too_many_for_a_dict(tmp_path: Any) -> None:
    # Budgeted as a table (pyarrow is loaded), the sums would take ~5x as a dict: the writer
    # spills them as they are before the int key's dict starts.
    pytest.importorskip("pyarrow")
    spec = ShuffleSpec(ShuffleKind.AGGREGATE, 3, Aggregator(operator.add, operator.add))
    w = writer.make_writer(ShuffleOutput(0, spec, 3), 0, str(tmp_path), 8 << 20, 1)
    assert isinstance(w, combine_writer.CombineWriter)
    i = 0
    while w._buffered() < 0.7 * w.limit:
        w.write([(f"key{j:09d}", 1) for j in range(i, i + 5000)])
        i += 5000
    assert w.stats.spills == 0 and w._dict_bytes(i) > w.limit
    tracemalloc.start()
    try:
        w.write([("one more", 1), (7, 1)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert w.stats.spills == 1 and w.acc == {7: 1}
    assert peak < w._dict_bytes(i)  # less than the dict alone would have taken
    out = w.close()
    assert w.stats.records == i + 2 and len(out.runs) == 2
