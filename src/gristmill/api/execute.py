"""Bridge from an action to the engine: resolve config, plan, attach progress, run.

The only place the API touches `plan` and `runtime` together.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from gristmill.api import cache
from gristmill.config import Config
from gristmill.errors import JobFailedError
from gristmill.io.commit import OutputCommitter
from gristmill.plan.joins import Collect, JoinSettings, lower_joins
from gristmill.plan.logical import Node
from gristmill.plan.planner import plan
from gristmill.plan.sinks import Sink, SinkKind
from gristmill.plan.stages import StageGraph
from gristmill.runtime.events import Listener
from gristmill.runtime.progress import default_listener
from gristmill.runtime.scheduler import JobRun, run_job

TABLE_SHARE = 4  # a broadcast table chosen on its own takes at most 1/4 of the memory budget


def plan_for(node: Node, config: Config, collect: Collect | None = None) -> StageGraph:
    """The stage graph `node` runs as under `config`; without `collect`, broadcast join sides
    are not run: they show as pending, with their own plans as `sides` (for explain)."""
    settings = JoinSettings(
        config.broadcast_threshold, config.memory // TABLE_SHARE, config.skip_bad_records
    )
    pending: list[Node] = []
    lowered = lower_joins(node, settings, collect, None if collect else pending)
    graph, *sides = (
        plan(root, split_size=config.split_size, default_partitions=config.partitions)
        for root in (lowered, *pending)
    )
    return dataclasses.replace(graph, sides=tuple(sides)) if sides else graph


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
    if output is not None:  # refuse an existing output before any broadcast side runs
        OutputCommitter(output, "check", overwrite=overwrite).check()

    def materialize(parent: Node, folder: str) -> tuple[str, ...]:
        # A cached dataset's first use: computed as a job of its own, its partitions kept.
        run = execute(parent, Sink(SinkKind.FRAMES), cfg, output=folder)
        return tuple(run.result.output_paths)

    skipped: list[str] = []  # skip mode's records left out of a cached dataset, if computed
    node = cache.resolved(node, cfg, materialize, skipped)
    graph = resolve_plan(node, cfg, listeners)
    return run_job(
        graph,
        sink,
        cfg,
        output=output,
        overwrite=overwrite,
        listeners=listeners,
        quarantine=skipped,
    )


def resolve_plan(node: Node, cfg: Config, listeners: Sequence[Listener] = ()) -> StageGraph:
    """The stage graph `node` runs as, its broadcast join sides run and attached as `sides`."""
    sides: list[StageGraph] = []

    def collect(side: Node, small: bool) -> list[Any]:
        graph, records = collect_side(side, cfg, small, listeners)
        sides.append(graph)
        return records

    graph = plan_for(node, cfg, collect)
    return dataclasses.replace(graph, sides=tuple(sides))


def collect_side(
    node: Node, cfg: Config, small: bool, listeners: Sequence[Listener] = ()
) -> tuple[StageGraph, list[Any]]:
    """A broadcast side's plan and records, from a job of its own. A small one runs in this
    process: forking workers would cost more than reading a few megabytes."""
    side_cfg = dataclasses.replace(cfg, executor="inline") if small else cfg
    graph = plan_for(node, side_cfg)  # its own joins were lowered with it
    try:
        run = run_job(graph, Sink(SinkKind.COLLECT), side_cfg, listeners=listeners)
    except JobFailedError as exc:
        raise type(exc)(
            f"the right side of a broadcast join (run first, as its own job) failed: {exc}",
            task=exc.task,
            location=exc.location,
            user_traceback=exc.user_traceback,
        ) from exc
    return graph, list(run.records)
