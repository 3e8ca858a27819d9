"""Joins: when a broadcast hash join replaces the shuffle join, and that both give the same rows."""

from __future__ import annotations

import collections
import csv
import operator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gristmill as gm
from gristmill.api.execute import plan_for
from gristmill.errors import UsageError
from gristmill.plan.sinks import Sink, SinkKind
from gristmill.runtime import events as ev
from gristmill.runtime.scheduler import plan_fingerprint

INLINE = gm.Config(executor="inline", progress=False)
LOCAL = gm.Config(executor="local", workers=2, progress=False)


def op_names(ds: gm.Dataset, config: gm.Config = INLINE) -> list[str]:
    graph = plan_for(ds.node, config)
    return [op.name for stage in graph.stages for p in stage.pipelines for op in p.ops]


def joined(ds: gm.Dataset) -> gm.Dataset:
    """A shuffle after the join: what a report of the joined rows does."""
    return ds.map(lambda kv: ((kv[0], kv[1][1]), kv[1][0])).reduce_by_key(operator.add)


def reference_sums(left: list[Any], right: list[Any], *, outer: bool) -> dict[Any, int]:
    sums: dict[Any, int] = collections.defaultdict(int)
    right_keys = {k for k, _ in right}
    for k, lv in left:
        for k2, rv in right:
            if k == k2:
                sums[k, rv] += lv
        if outer and k not in right_keys:
            sums[k, None] += lv
    return dict(sums)


keys = st.one_of(st.integers(-4, 4), st.sampled_from(["a", "b", ""]), st.none())
pairs = st.lists(st.tuples(keys, st.integers(0, 100)), max_size=80)


@settings(max_examples=40, deadline=None)
@given(pairs, pairs, st.booleans())
def test_broadcast_join_gives_the_shuffle_joins_rows(
    left: list[Any], right: list[Any], outer: bool
) -> None:
    a, b = gm.from_items(left, partitions=3), gm.from_items(right, partitions=2)
    join = a.left_join if outer else a.join
    rows = {how: join(b, broadcast=how).collect(config=INLINE) for how in (True, False)}
    assert sorted(rows[True], key=repr) == sorted(rows[False], key=repr)
    expected = [(k, (lv, rv)) for k, lv in left for k2, rv in right if k == k2]
    right_keys = {k for k, _ in right}
    expected += [(k, (lv, None)) for k, lv in left if outer and k not in right_keys]
    assert sorted(rows[True], key=repr) == sorted(expected, key=repr)
    # Broadcast keeps the left side's order: each left record, then its matches in order.
    assert [(k, lv) for k, (lv, _) in rows[True]] == [
        (k, lv)
        for k, lv in left
        for _ in range(max(sum(k == k2 for k2, _ in right), 1 if outer else 0))
    ]
    summed = dict(joined(join(b)).collect(config=INLINE))  # auto: broadcast
    assert summed == reference_sums(left, right, outer=outer)


def test_auto_broadcasts_a_small_side_only_when_a_shuffle_hides_the_order() -> None:
    big = gm.from_items([(i % 7, i) for i in range(100)], partitions=4)
    small = gm.from_items([(k, f"n{k}") for k in range(5)])
    assert "join" in op_names(big.join(small))  # collected as is: keyed, sorted output
    assert not any(n.startswith("broadcast") for n in op_names(big.join(small)))
    names = op_names(joined(big.join(small)))
    assert "broadcast_join[pending]" in names and "join" not in names
    # The same join read both under a shuffle and directly: its order would show.
    j = big.join(small)
    both = joined(j).union(j.map(lambda kv: ((kv[0], "x"), 0)))
    assert "join" in op_names(both)
    # Too large a right side, or the threshold turned off: the shuffle join.
    tight = gm.Config(executor="inline", progress=False, broadcast_threshold=16)
    off = gm.Config(executor="inline", progress=False, broadcast_threshold=0)
    for config in (tight, off):
        assert "join" in op_names(joined(big.join(small)), config)
    # Asked for: broadcast whatever the size; refused: shuffled however small.
    assert "broadcast_join[pending]" in op_names(big.join(small, broadcast=True), off)
    assert "join" in op_names(joined(big.join(small, broadcast=False)))


def test_broadcast_joins_nest_and_a_self_join_plans_once() -> None:
    a = gm.from_items([(k, k * 10) for k in range(20)], partitions=2)
    b = gm.from_items([(k, f"b{k}") for k in range(0, 20, 2)])
    c = gm.from_items([(k, f"c{k}") for k in range(0, 20, 3)])
    inner = a.join(b).map(lambda kv: (kv[0], kv[1][0]))
    got = dict(joined(inner.join(c)).collect(config=INLINE))
    assert got == {(k, f"c{k}"): k * 10 for k in range(0, 20, 6)}
    # The right side is itself a join (its own broadcast runs inside the side's job).
    side = b.join(c).map(lambda kv: (kv[0], kv[1][0] + kv[1][1]))
    got = dict(joined(a.join(side)).collect(config=INLINE))
    assert got == {(k, f"b{k}c{k}"): k * 10 for k in range(0, 20, 6)}
    selfish = dict(joined(a.join(a)).collect(config=INLINE))
    assert selfish == {(k, k * 10): k * 10 for k in range(20)}


def test_the_broadcast_side_runs_first_as_its_own_small_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    products = tmp_path / "products.csv"
    products.write_text("id,cat\n" + "".join(f"{i},c{i % 3}\n" for i in range(50)))
    orders = tmp_path / "orders.csv"
    rows = [(str(i % 60), i) for i in range(3000)]
    orders.write_text("id,qty\n" + "".join(f"{k},{q}\n" for k, q in rows))
    cats = gm.read_csv(str(products)).map(lambda r: (r["id"], r["cat"]))
    lines = gm.read_csv(str(orders)).map(lambda r: (r["id"], int(r["qty"])))
    report = lines.join(cats).map(lambda kv: (kv[1][1], kv[1][0])).reduce_by_key(operator.add)
    events: list[Any] = []
    seen_configs: list[gm.Config] = []
    from gristmill.api import execute as ex

    run = ex.run_job  # type: ignore[attr-defined]

    def spy(graph: Any, sink: Any, config: gm.Config, **kw: Any) -> Any:
        seen_configs.append(config)
        return run(graph, sink, config, **{**kw, "listeners": [events.append]})

    monkeypatch.setattr(ex, "run_job", spy)
    got = dict(report.collect(config=LOCAL))
    category = {str(i): f"c{i % 3}" for i in range(50)}
    expected: dict[str, int] = collections.defaultdict(int)
    for k, q in rows:
        if k in category:
            expected[category[k]] += q
    assert got == expected
    # Two jobs: the 50 products in this process, then the orders on the workers.
    assert [c.executor for c in seen_configs] == ["inline", "local"]
    assert sum(isinstance(e, ev.JobStarted) for e in events) == 2


def test_unhashable_right_keys_shuffle_on_their_own_and_are_refused_when_asked() -> None:
    left = gm.from_items([([1], "x"), ([2], "y"), ((1,), "z")])
    right = gm.from_items([([1], "a"), ((1,), "b")])
    got = dict(
        left.join(right)
        .map(lambda kv: (repr(kv[0]), kv[1]))
        .group_by_key()
        .map_values(sorted)
        .collect(config=INLINE)
    )
    assert got == {"[1]": [("x", "a")], "(1,)": [("z", "b")]}
    with pytest.raises(UsageError, match=r"broadcast join: right-side key \[1\] of type list"):
        left.join(right, broadcast=True).collect(config=INLINE)


def test_unhashable_left_keys_compare_by_equality() -> None:
    left = gm.from_items([([1], "x"), ("k", "y")])
    right = gm.from_items([("k", "a")])
    got = left.left_join(right, broadcast=True).collect(config=INLINE)
    assert got == [([1], ("x", None)), ("k", ("y", "a"))]
    assert left.join(right, broadcast=True).collect(config=INLINE) == [("k", ("y", "a"))]


def test_a_right_side_of_non_pairs_is_named() -> None:
    left = gm.from_items([("k", 1)])
    with pytest.raises(UsageError, match=r"right side must hold \(key, value\) pairs; got 'oops'"):
        left.join(gm.from_items(["oops"]), broadcast=True).collect(config=INLINE)


def test_a_changed_broadcast_side_changes_the_resume_fingerprint() -> None:
    left = gm.from_items([("k", 1)])
    sink = Sink(SinkKind.TEXT)

    def fingerprint(right: list[Any]) -> str:
        ds = joined(left.join(gm.from_items(right)))
        from gristmill.api.execute import _collect_side

        def collect(side: Any, small: bool) -> list[Any]:
            return _collect_side(side, INLINE, small, [])

        graph = plan_for(ds.node, INLINE, collect)
        return plan_fingerprint(graph, sink)

    assert fingerprint([("k", "a")]) == fingerprint([("k", "a")])
    assert fingerprint([("k", "a")]) != fingerprint([("k", "b")])


def test_join_arguments_are_checked() -> None:
    ds = gm.from_items([("k", 1)])
    with pytest.raises(UsageError, match="broadcast must be True, False or None"):
        ds.join(ds, broadcast="yes")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="join needs a Dataset"):
        ds.join([("k", 2)])  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="broadcast_threshold must be >= 0"):
        gm.Config(broadcast_threshold=-1)
    assert gm.Config(broadcast_threshold="1MB").broadcast_threshold == 1024**2  # type: ignore[arg-type]


def test_broadcast_threshold_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRISTMILL_BROADCAST_THRESHOLD", "2MB")
    assert gm.Config.resolve().broadcast_threshold == 2 * 1024**2


def test_file_sides_are_sized_by_their_files(tmp_path: Path) -> None:
    path = tmp_path / "right.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["k", "v"])
        writer.writerows([(i, "x" * 50) for i in range(200)])  # ~11KB
    right = gm.read_csv(str(path)).map(lambda r: (r["k"], r["v"]))
    left = gm.from_items([("1", 1)])
    roomy = gm.Config(executor="inline", progress=False, broadcast_threshold=1024**2)
    tight = gm.Config(executor="inline", progress=False, broadcast_threshold=8 * 1024)
    assert "broadcast_join[pending]" in op_names(joined(left.join(right)), roomy)
    assert "join" in op_names(joined(left.join(right)), tight)
