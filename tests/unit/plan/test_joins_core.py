"""Joins: when a broadcast hash join replaces the shuffle join, and that both give the same rows."""

from __future__ import annotations

import collections
import csv
import json
import operator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gristmill as gm
from gristmill.api.execute import plan_for, resolve_plan
from gristmill.errors import JobFailedError, UsageError
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
    # Only an aggregation hides the join's order: not a group's values, a sort's ties, a
    # partition-wise function, nor a join whose shuffle width the caller chose.
    pairs = big.join(small).map(lambda kv: (kv[1][1], kv[1][0]))
    assert "broadcast_join[pending]" in op_names(pairs.count_by_value())
    assert "broadcast_join[pending]" in op_names(pairs.filter(bool).reduce_by_key(max))
    for visible in (
        pairs.group_by_key(),
        pairs.sort_by(lambda kv: kv[0]),
        pairs.repartition(2).reduce_by_key(max),
        pairs.map_partitions(enumerate).reduce_by_key(max),
        joined(big.join(small, partitions=8)),
    ):
        assert "join" in op_names(visible)
    # Left joins are named apart (explain, and a resumed run's fingerprint).
    assert "broadcast_left_join[pending]" in op_names(joined(big.left_join(small)))
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
    # The right side is itself a join: its own broadcast side runs first, as another job.
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


def test_the_broadcast_sides_inputs_are_the_jobs_inputs(tmp_path: Path) -> None:
    right = tmp_path / "right.csv"
    right.write_text("k,v\nk,a\n")
    left = gm.from_items([("k", 1)])
    ds = joined(left.join(gm.read_csv(str(right)).map(lambda r: (r["k"], r["v"]))))
    sink = Sink(SinkKind.TEXT)
    before = plan_fingerprint(resolve_plan(ds.node, INLINE), sink)
    assert before == plan_fingerprint(resolve_plan(ds.node, INLINE), sink)
    right.write_text("k,v\nk,bb\n")  # a resumed run must not reuse parts joined with "a"
    assert plan_fingerprint(resolve_plan(ds.node, INLINE), sink) != before
    out = tmp_path / "out"
    ds.write_text(str(out), config=INLINE)
    inputs = json.loads((out / "_SUCCESS").read_text())["inputs"]
    assert [Path(i["path"]).name for i in inputs] == ["right.csv"]
    # Reading its own output, even only on the broadcast side, is refused as for any input.
    again = joined(left.join(gm.read_text(str(out)).map(lambda line: ("k", line))))
    with pytest.raises(UsageError, match="reads its own output path"):
        again.write_text(str(out), config=INLINE, overwrite=True)


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


def test_skip_mode_keeps_the_shuffle_join_and_refuses_an_asked_broadcast(tmp_path: Path) -> None:
    right = tmp_path / "right.jsonl"
    right.write_text('["a", 1]\n{bad json\n["b", 2]\n')
    left = tmp_path / "left.jsonl"
    left.write_text('["a", 10]\nnot json\n["b", 20]\n')
    lds = gm.read_jsonl(str(left)).map(tuple)
    rds = gm.read_jsonl(str(right)).map(tuple)
    skip = gm.Config(executor="inline", progress=False, skip_bad_records=True)
    out = tmp_path / "out"
    joined(lds.join(rds)).write_text(str(out), config=skip)
    quarantined = (out / "_quarantine").glob("*")
    assert sum(len(p.read_text().splitlines()) for p in quarantined) == 2  # both sides' bad rows
    lines = [line for part in sorted(out.glob("part-*")) for line in part.read_text().splitlines()]
    assert sorted(lines) == ["('a', 1)\t10", "('b', 2)\t20"]
    with pytest.raises(UsageError, match="broadcast=True cannot run in skip mode"):
        lds.join(rds, broadcast=True).collect(config=skip)


def test_a_table_too_large_for_the_budget_shuffles_from_what_was_collected() -> None:
    right = [(k, "v" * 200) for k in range(6000)]  # ~2MB of Python objects
    left = gm.from_items([(k, 1) for k in range(0, 6000, 7)], partitions=2)
    tight = gm.Config(executor="inline", progress=False, memory=2 * 1024**2)
    ds = joined(left.join(gm.from_items(right)))
    graph = resolve_plan(ds.node, tight)
    names = [op.name for s in graph.stages for p in s.pipelines for op in p.ops]
    assert "join" in names and len(graph.sides) == 1  # collected once, then shuffled
    assert dict(ds.collect(config=tight)) == {(k, "v" * 200): 1 for k in range(0, 6000, 7)}
    roomy = resolve_plan(ds.node, INLINE)  # the default budget holds it
    assert "broadcast_join[6000 keys]" in [
        op.name for p in roomy.stages[0].pipelines for op in p.ops
    ]


def test_a_side_used_by_two_joins_runs_once() -> None:
    side = gm.from_items([(k, k * k) for k in range(10)])
    a = gm.from_items([(k, "a") for k in range(10)])
    b = gm.from_items([(k, "b") for k in range(5)])
    both = joined(a.join(side)).union(joined(b.join(side)))
    graph = resolve_plan(both.node, INLINE)
    assert len(graph.sides) == 1
    got = sorted(both.collect(config=INLINE))
    assert got == sorted(
        [((k, k * k), "a") for k in range(10)] + [((k, k * k), "b") for k in range(5)]
    )


def _explode(pair: tuple[Any, Any]) -> tuple[Any, Any]:
    if pair[0] == 3:
        raise ValueError("no three")
    return pair


def test_a_failing_broadcast_side_is_named() -> None:
    side = gm.from_items([(k, k) for k in range(5)]).map(_explode)
    ds = joined(gm.from_items([(1, 1)]).join(side))
    with pytest.raises(
        JobFailedError, match=r"right side of a broadcast join .* failed: .*no three"
    ):
        ds.collect(config=INLINE)


def test_explain_shows_the_broadcast_sides_own_stages(capsys: pytest.CaptureFixture[str]) -> None:
    big = gm.from_items([(k % 3, k) for k in range(30)], partitions=3)
    small = gm.from_items([(k, f"n{k}") for k in range(3)], partitions=1).filter(bool)
    joined(big.join(small)).explain(config=INLINE)
    out = capsys.readouterr().out
    side = out.split("Broadcast side 1 (run first, as its own job):\n", 1)[1]
    assert "broadcast_join[pending]" in out
    assert side.splitlines()[0].strip() == "Stage 0: 1 tasks -> result"
    assert "filter(bool)" in side
    # Explain runs nothing: no table was built.
    assert "keys]" not in out


def test_a_join_inside_a_right_side_keeps_its_shuffle_when_the_outer_order_shows() -> None:
    # The right side's order is the order of a key's matches in the outer join's output.
    il = gm.from_items([("k", 1), ("k", 2)], partitions=1)
    ir = gm.from_items([("k", "x"), ("k", "y")], partitions=1)
    inner = il.join(ir).map(lambda kv: ("key", kv[1]))
    outer = gm.from_items([("key", 0)]).join(inner, broadcast=False, partitions=1)
    assert "broadcast_join[pending]" not in op_names(outer)
    shuffled = il.join(ir, broadcast=False).map(lambda kv: ("key", kv[1]))
    expected = gm.from_items([("key", 0)]).join(shuffled, broadcast=False, partitions=1)
    assert outer.collect(config=INLINE) == expected.collect(config=INLINE)


def test_partitions_are_refused_for_an_asked_broadcast() -> None:
    ds = gm.from_items([("k", 1)])
    with pytest.raises(UsageError, match="a broadcast join has none"):
        ds.join(ds, partitions=4, broadcast=True)


def test_an_existing_output_is_refused_before_the_broadcast_side_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gristmill.api import execute as ex
    from gristmill.errors import OutputExistsError

    out = tmp_path / "out"
    out.mkdir()
    ran: list[Any] = []

    def collect_side(*args: Any, **kw: Any) -> Any:
        ran.append(args)
        raise AssertionError("the side ran")

    monkeypatch.setattr(ex, "collect_side", collect_side)
    ds = joined(gm.from_items([("k", 1)]).join(gm.from_items([("k", "a")])))
    with pytest.raises(OutputExistsError):
        ds.write_text(str(out), config=INLINE)
    assert ran == []
