"""Bridge from an action to the engine: resolve config, plan, attach progress, run.

The only place the API touches `plan` and `runtime` together.
"""

from __future__ import annotations

from gristmill.config import Config
from gristmill.plan.logical import Node
from gristmill.plan.planner import plan
from gristmill.plan.sinks import Sink
from gristmill.plan.stages import StageGraph
from gristmill.runtime.progress import default_listener
from gristmill.runtime.scheduler import JobRun, run_job


def plan_for(node: Node, config: Config) -> StageGraph:
    """The stage graph `node` runs as under `config`."""
    return plan(node, split_size=config.split_size, default_partitions=config.partitions)


def execute(
    node: Node,
    sink: Sink,
    config: Config | None,
    *,
    output: str | None = None,
    overwrite: bool = False,
) -> JobRun:
    """Run the plan rooted at `node` into `sink`."""
    cfg = config or Config.resolve()
    graph = plan_for(node, cfg)
    listener = default_listener(cfg.progress)
    listeners = [listener] if listener is not None else []
    return run_job(graph, sink, cfg, output=output, overwrite=overwrite, listeners=listeners)
