"""Narrow ops fuse into one stage, shuffles cut stages, and the plan is plain picklable data."""

from __future__ import annotations

import operator

import cloudpickle

import gristmill as gm
from gristmill.api.execute import plan_for
from gristmill.plan.logical import ShuffleKind
from gristmill.plan.stages import ShuffleInput

CFG = gm.Config(executor="inline", progress=False)


def test_narrow_ops_fuse_and_shuffle_cuts() -> None:
    ds = gm.from_items(range(10), partitions=3).map(str).filter(bool).flat_map(list)
    graph = plan_for(ds.map(lambda c: (c, 1)).reduce_by_key(operator.add).map(repr).node, CFG)
    assert len(graph.stages) == 2
    first, last = graph.stages
    assert [op.name for op in first.pipelines[0].ops] == ["map", "filter", "flat_map", "map"]
    assert first.output is not None and first.output.spec.kind is ShuffleKind.AGGREGATE
    assert first.output.num_partitions == 3  # default: upstream task count
    assert isinstance(last.pipelines[0].input, ShuffleInput)
    assert [op.name for op in last.pipelines[0].ops] == ["map"]


def test_join_is_one_stage_with_two_pipelines_and_plan_pickles() -> None:
    left = gm.from_items([(1, "a")], partitions=2)
    right = gm.from_items([(1, "b")], partitions=1)
    graph = plan_for(left.join(right, partitions=4).node, CFG)
    assert len(graph.stages) == 2
    assert len(graph.stages[0].pipelines) == 2
    assert graph.stages[0].num_tasks == 3
    assert graph.stages[1].num_tasks == 4
    clone = cloudpickle.loads(cloudpickle.dumps(graph))
    assert clone.describe() == graph.describe()


def test_explain_prints_plan_and_stages(capsys) -> None:  # type: ignore[no-untyped-def]
    gm.from_items(range(4)).sort_by(abs).explain(config=CFG)
    out = capsys.readouterr().out
    assert "Shuffle[sort]" in out and "Stage 0" in out and "Stage 1" in out
