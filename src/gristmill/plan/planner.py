"""Planner: a logical plan becomes a `StageGraph`.

Narrow ops fuse into the pipeline of the stage they run in; a union concatenates pipelines; a
shuffle closes the stage that feeds it and opens a new one that reads it. A shuffle reached
twice (a self-join) is planned once. Must not import `runtime`.
"""

from __future__ import annotations

import dataclasses

from gristmill.io.fs import list_inputs
from gristmill.io.splits import split_files
from gristmill.plan.logical import (
    FileSource,
    Format,
    Narrow,
    Node,
    Shuffle,
    Source,
    Union,
)
from gristmill.plan.stages import (
    FileInput,
    ItemsInput,
    Pipeline,
    ShuffleInput,
    ShuffleOutput,
    Stage,
    StageGraph,
)

MAX_DEFAULT_PARTITIONS = 512
TARGET_SPLITS = 16  # Hadoop and Spark take 128 MB blocks; fewer, larger tasks amortise set-up
MIN_SPLIT, MAX_SPLIT = 16 * 1024**2, 128 * 1024**2


def auto_split_size(total_bytes: int) -> int:
    """About `TARGET_SPLITS` splits of 16-128 MB: enough tasks to balance a workstation.

    Each task pays a fixed cost (process hand-off, one shuffle output row per distinct key), so
    splits are as large as balance allows. Depends only on the input size, so the plan (and the
    output) is the same for any workers; `--split-size` sets it for wide clusters.

    >>> auto_split_size(1024**3) // 1024**2
    64
    """
    return max(MIN_SPLIT, min(MAX_SPLIT, total_bytes // TARGET_SPLITS))


@dataclasses.dataclass
class _Planner:
    split_size: int | None
    default_partitions: int | None
    stages: list[Stage] = dataclasses.field(default_factory=list)
    shuffles: dict[int, ShuffleInput] = dataclasses.field(default_factory=dict)

    def pipelines(self, node: Node) -> list[Pipeline]:
        if isinstance(node, Source):
            return [Pipeline(self.source_input(node), ())]
        if isinstance(node, Narrow):
            return [
                dataclasses.replace(p, ops=(*p.ops, node.op)) for p in self.pipelines(node.parent)
            ]
        if isinstance(node, Union):
            return [p for parent in node.parents for p in self.pipelines(parent)]
        if isinstance(node, Shuffle):
            return [Pipeline(self.shuffle_input(node), ())]
        raise TypeError(f"unknown plan node {node!r}")

    def source_input(self, node: Source) -> FileInput | ItemsInput:
        src = node.source
        if isinstance(src, FileSource):
            files = list_inputs(src.paths)
            size = self.split_size or auto_split_size(sum(f.size for f in files))
            if src.record_size:  # binary splits cut between records
                size = max(src.record_size, size - size % src.record_size)
            # Byte ranges mean nothing inside Parquet; a multiline CSV record may cross any.
            whole = src.format in (Format.PARQUET, Format.FRAMES) or dict(src.csv_options).get(
                "multiline", False
            )
            splits = split_files(files, size, whole=whole)
            return FileInput(splits, src.format, src.csv_options, src.record_size)
        return ItemsInput(src.partitions)

    def shuffle_input(self, node: Shuffle) -> ShuffleInput:
        if id(node) in self.shuffles:
            return self.shuffles[id(node)]
        upstream = self.pipelines(node.parent)
        map_tasks = sum(p.input.partitions for p in upstream)
        n = node.spec.partitions or self.default_partitions or map_tasks
        n = max(1, min(n, MAX_DEFAULT_PARTITIONS)) if node.spec.partitions is None else n
        stage_id = len(self.stages)
        shuffle_id = stage_id  # one shuffle per map stage, so the ids can coincide
        self.stages.append(
            Stage(stage_id, tuple(upstream), ShuffleOutput(shuffle_id, node.spec, n))
        )
        spec = node.spec
        read = ShuffleInput(
            shuffle_id, stage_id, spec.kind, n, spec.aggregator, spec.ascending, spec.value_key
        )
        self.shuffles[id(node)] = read
        return read


def plan(
    root: Node, *, split_size: int | None, default_partitions: int | None = None
) -> StageGraph:
    """Plan `root` into stages; file inputs are listed and split now, so the plan is fixed.

    >>> from gristmill.plan.logical import ItemsSource
    >>> graph = plan(Source(ItemsSource(((1, 2), (3,)))), split_size=1 << 20)
    >>> graph.final.num_tasks
    2
    """
    planner = _Planner(split_size, default_partitions)
    final = planner.pipelines(root)
    planner.stages.append(Stage(len(planner.stages), tuple(final), None))
    return StageGraph(tuple(planner.stages))
