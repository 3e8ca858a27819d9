"""Bridge from an action to the engine: resolve config, plan, attach progress, run.

The only place the API touches `plan` and `runtime` together.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from gristmill.config import Config
from gristmill.plan.joins import Collect, lower_joins
from gristmill.plan.logical import Node
from gristmill.plan.planner import plan
from gristmill.plan.sinks import Sink, SinkKind
from gristmill.plan.stages import StageGraph
from gristmill.runtime.events import Listener
from gristmill.runtime.progress import default_listener
from gristmill.runtime.scheduler import JobRun, run_job


def plan_for(node: Node, config: Config, collect: Collect | None = None) -> StageGraph:
    """The stage graph `node` runs as under `config`; without `collect`, broadcast join sides
    are not run and show as pending."""
    lowered = lower_joins(node, config.broadcast_threshold, collect)
    return plan(lowered, split_size=config.split_size, default_partitions=config.partitions)


def execute(
    node: Node,
    sink: Sink,
    config: Config | None,
    *,
    output: str | None = None,
    overwrite: bool = False,
) -> JobRun:
    """Run the plan rooted at `node` into `sink`; a broadcast join's side runs first."""
    cfg = config or Config.resolve()
    listener = default_listener(cfg.progress)
    listeners = [listener] if listener is not None else []

    def collect(side: Node, small: bool) -> list[Any]:
        return _collect_side(side, cfg, small, listeners)

    graph = plan_for(node, cfg, collect)
    return run_job(graph, sink, cfg, output=output, overwrite=overwrite, listeners=listeners)


def _collect_side(node: Node, cfg: Config, small: bool, listeners: Sequence[Listener]) -> list[Any]:
    """A broadcast side's records, from a job of its own. A small one runs in this process:
    forking workers would cost more than reading a few megabytes."""
    side_cfg = dataclasses.replace(cfg, executor="inline") if small else cfg
    graph = plan_for(node, side_cfg)  # its own joins were lowered with it
    run = run_job(graph, Sink(SinkKind.COLLECT), side_cfg, listeners=listeners)
    return list(run.records)
