"""Physical plan: stages cut at shuffle edges, each a set of fused pipelines.

A stage's tasks are its pipelines' input partitions, in order (all of pipeline 0's partitions,
then pipeline 1's, ...); that order is the map index every shuffle merge ties on, which keeps
output deterministic and puts a join's left side before its right. Plain frozen data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gristmill.io.splits import FileSplit
from gristmill.plan.logical import Aggregator, Format, ShuffleKind, ShuffleSpec
from gristmill.plan.ops import Op


@dataclass(frozen=True)
class FileInput:
    """Read file splits in `format`."""

    splits: tuple[FileSplit, ...]
    format: Format
    csv_options: tuple[tuple[str, Any], ...] = ()
    record_size: int = 0  # binary: bytes per record; splits start on record boundaries

    @property
    def partitions(self) -> int:
        return len(self.splits)


@dataclass(frozen=True)
class ItemsInput:
    """Records shipped inside the plan (from_items)."""

    items: tuple[tuple[Any, ...], ...]

    @property
    def partitions(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class ShuffleInput:
    """Read one reduce partition of shuffle `shuffle_id`, written by stage `source_stage`."""

    shuffle_id: int
    source_stage: int
    kind: ShuffleKind
    num_partitions: int
    aggregator: Aggregator | None
    ascending: bool
    value_key: Callable[[Any], Any] | None = None

    @property
    def partitions(self) -> int:
        return self.num_partitions


StageInput = FileInput | ItemsInput | ShuffleInput


@dataclass(frozen=True)
class Pipeline:
    """An input followed by fused narrow ops, run as one loop over record batches."""

    input: StageInput
    ops: tuple[Op, ...]


@dataclass(frozen=True)
class ShuffleOutput:
    """Where a stage's records go when it feeds a shuffle (partition count resolved)."""

    shuffle_id: int
    spec: ShuffleSpec
    num_partitions: int


@dataclass(frozen=True)
class Stage:
    """A unit of scheduling; `output` None marks the final stage, whose sink the action picks."""

    id: int
    pipelines: tuple[Pipeline, ...]
    output: ShuffleOutput | None

    @property
    def num_tasks(self) -> int:
        return sum(p.input.partitions for p in self.pipelines)

    def task_input(self, index: int) -> tuple[Pipeline, int]:
        """The pipeline and input partition that task `index` of this stage runs."""
        for pipeline in self.pipelines:
            if index < pipeline.input.partitions:
                return pipeline, index
            index -= pipeline.input.partitions
        raise IndexError(f"stage {self.id} has no task {index}")

    @property
    def parents(self) -> tuple[int, ...]:
        return tuple(
            sorted(
                {p.input.source_stage for p in self.pipelines if isinstance(p.input, ShuffleInput)}
            )
        )


@dataclass(frozen=True)
class StageGraph:
    """Stages in dependency order; the last one is the final stage.

    `sides` are the graphs of broadcast join sides, which run first as jobs of their own
    (for explain, planned but not run): their inputs count among the job's inputs (manifest,
    resume, change checks).
    """

    stages: tuple[Stage, ...]
    sides: tuple[StageGraph, ...] = ()

    def all_stages(self) -> list[Stage]:
        """This graph's stages and those of its broadcast sides."""
        return [*(s for side in self.sides for s in side.all_stages()), *self.stages]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def describe(self) -> list[str]:
        lines = []
        for stage in self.stages:
            out = stage.output
            target = (
                "result"
                if out is None
                else f"shuffle {out.shuffle_id} [{out.spec.kind.value}] x{out.num_partitions}"
            )
            lines.append(f"Stage {stage.id}: {stage.num_tasks} tasks -> {target}")
            for pipeline in stage.pipelines:
                lines.append(f"  {_describe_input(pipeline.input)}")
                lines += [f"    {op.describe()}" for op in pipeline.ops]
        for number, side in enumerate(self.sides, 1):
            lines.append(f"Broadcast side {number} (run first, as its own job):")
            lines += [f"  {line}" for line in side.describe()]
        return lines


def _describe_input(inp: StageInput) -> str:
    if isinstance(inp, FileInput):
        files = sorted({s.path for s in inp.splits})
        shown = ", ".join(files[:3]) + (f", ... ({len(files)} files)" if len(files) > 3 else "")
        return f"read {inp.format.value}: {len(inp.splits)} splits of {shown or 'no files'}"
    if isinstance(inp, ItemsInput):
        return f"items: {len(inp.items)} partitions"
    return f"shuffle {inp.shuffle_id} read [{inp.kind.value}] x{inp.num_partitions}"
