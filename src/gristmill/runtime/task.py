"""One task attempt, run on whatever process the backend chose: read, transform, write.

`execute_task` is the only entry point every backend calls; it reads its input partition
(a file split, in-memory items or a shuffle partition), runs the fused ops, and feeds a
shuffle writer or the action's sink. Failures keep the user's traceback and record location.
"""

from __future__ import annotations

import itertools
import os
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from gristmill.faults import inject
from gristmill.io.binary import is_block
from gristmill.io.formats import (
    Batch,
    CorruptFileError,
    read_split,
    verify_whole_file,
)
from gristmill.plan.logical import Format, ShuffleKind
from gristmill.plan.sinks import Sink, SinkKind
from gristmill.plan.stages import FileInput, ItemsInput, ShuffleInput, Stage, StageInput
from gristmill.runtime.context import task_counters, task_environment
from gristmill.runtime.narrowing import CrashNotReproduced, Isolation
from gristmill.runtime.pipeline import BATCH, LOCATION_ATTR, Lazy, run_pipeline
from gristmill.runtime.quarantine import Quarantine
from gristmill.runtime.sinks import SinkResult, SinkWriter
from gristmill.shuffle.fold import unhashable_key_error
from gristmill.shuffle.marks import described
from gristmill.shuffle.reader import ReduceSource, read_partition
from gristmill.shuffle.runfile import ReadTally
from gristmill.shuffle.writer import MapOutput, ShuffleWriter, folds, make_writer


@dataclass(frozen=True)
class TaskSpec:
    """Everything one attempt needs; plain data so any backend can ship it."""

    job_id: str
    stage: Stage
    index: int
    attempt: int
    job_dir: str  # scratch area of this job: shuffle runs and collected results
    memory: int
    sink: Sink | None = None
    sink_dir: str | None = None  # attempt files of the final stage go here
    reduce_source: ReduceSource | None = None
    skip_bad_records: bool = False
    skip_corrupt_files: bool = False
    crashed_records: tuple[int, ...] | None = None  # set: isolate records (crash narrowing)
    compress_sort_runs: bool = False  # Config.compress_sort_runs
    suspect_record: int | None = None  # set: probe this record alone (crash narrowing)

    @property
    def progress_path(self) -> str:
        """Where an isolated attempt records the input record it is processing."""
        name = f"progress-{self.stage.id}-{self.index:05d}.a{self.attempt}"
        return os.path.join(self.job_dir, name)

    @property
    def name(self) -> str:
        return f"stage {self.stage.id} task {self.index}"

    def shuffle_dir(self, shuffle_id: int) -> str:
        return os.path.join(self.job_dir, f"shuffle-{shuffle_id}")


@dataclass
class TaskResult:
    name: str
    index: int
    attempt: int
    counters: dict[str, int] = field(default_factory=dict)
    map_output: MapOutput | None = None
    sink: SinkResult | None = None
    seconds: float = 0.0
    quarantine: str | None = None  # this attempt's skipped records (JSON lines)


@dataclass(frozen=True)
class TaskFailure:
    """A failed attempt, as the driver reports it: the error, the user's traceback, where."""

    name: str
    index: int
    attempt: int
    error: str
    traceback: str
    location: str = ""
    crashed: bool = False  # the worker process died rather than raising
    error_type: str = ""  # the exception's class name, to raise a typed error at the driver


_ENGINE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def user_traceback(exc: BaseException) -> str:
    """The traceback of `exc` without gristmill's own frames (kept if nothing else is left)."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if not os.path.abspath(f.filename).startswith(_ENGINE_DIR)]
    shown = traceback.StackSummary.from_list(mine or frames)
    lines = ["Traceback (most recent call last):\n", *shown.format()]
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines)


def failure_from(spec: TaskSpec, exc: BaseException) -> TaskFailure:
    """Describe `exc`, raised while running `spec`, for the driver."""
    error = f"{type(exc).__name__}: {exc}"
    # A record-wise op's input record, or what an aggregation, sort or sink function had.
    location = str(getattr(exc, LOCATION_ATTR, "") or "") or described(exc)
    explained = None if location else unhashable_key_error(exc)
    if explained is not None:  # no user function failed: the hash table refused a key
        error = f"TypeError: {explained}"
    if isinstance(exc, SystemExit):  # in a worker process: it would end the worker
        error = f"SystemExit({exc.code!r}): a function called sys.exit() in a task; raise instead"
    return TaskFailure(
        spec.name,
        spec.index,
        spec.attempt,
        error,
        user_traceback(exc),
        location,
        error_type=type(exc).__name__,
    )


def _open_input(
    inp: StageInput, part: int, spec: TaskSpec, counters: dict[str, int], skip: Quarantine | None
) -> tuple[Iterator[Batch], Callable[[Any], str]]:
    if isinstance(inp, FileInput):
        split = inp.splits[part]
        counters["input.bytes"] = split.end - split.start
        whole = split.compressed or inp.format is Format.PARQUET  # a split is the whole file
        if whole and spec.skip_corrupt_files:
            try:
                verify_whole_file(split, inp.format)
            except CorruptFileError as exc:
                counters["corrupt_files.skipped"] = 1
                if skip is not None:
                    skip(split.path, str(exc))
                return iter(()), repr
        options = dict(inp.csv_options)
        batches = read_split(
            split,
            inp.format,
            options,
            skip,
            record_size=inp.record_size,
            memory=spec.memory,
            previous=inp.splits[part - 1] if part else None,
        )
        return batches, repr
    if isinstance(inp, ItemsInput):
        items = list(inp.items[part])
        chunks = (Batch(items[i : i + BATCH]) for i in range(0, len(items), BATCH))
        return chunks, lambda r: f"item {r!r:.80}"
    assert isinstance(inp, ShuffleInput) and spec.reduce_source is not None
    source = spec.reduce_source

    def describe(record: Any) -> str:
        key = record[0] if isinstance(record, tuple) and record else record
        return f"shuffle {inp.shuffle_id} partition {part}, key {key!r:.80}"

    inject("reduce")
    return _shuffle_batches(inp, source, part, spec.memory, counters), describe


def _shuffle_batches(
    inp: ShuffleInput, source: ReduceSource, part: int, memory: int, counters: dict[str, int]
) -> Iterator[Batch]:
    """The partition's batches; counts ``shuffle.bytes_read`` in the unit of bytes_written."""
    tally = ReadTally()
    try:
        for records in read_partition(inp, source, part, memory, tally):
            yield Batch(records)
    finally:  # as in _counted: also when a take() stops reading early
        counters["shuffle.bytes_read"] = tally.bytes
        if inp.kind not in RECORDS_HANDED_ON:
            # Each partition's own frames, read once: the records its map tasks wrote to it.
            counters["shuffle.records_read"] = tally.records


# Shuffles whose reducers hand on the records they read; the others hand on one per key.
RECORDS_HANDED_ON = (ShuffleKind.SORT, ShuffleKind.REPARTITION)


def _counted(batches: Iterator[Batch], counters: dict[str, int], name: str) -> Iterator[Batch]:
    n = 0
    try:
        for batch in batches:
            n += len(batch.records)
            yield batch
    finally:  # also when a take() stops reading early
        counters[name] = n


def execute_task(spec: TaskSpec) -> TaskResult:
    """Run one attempt to completion; raises the user's exception (with location) on failure."""
    started = time.perf_counter()
    result = TaskResult(spec.name, spec.index, spec.attempt)
    with task_counters(result.counters), task_environment(hadoop_environment(spec), spec.job_dir):
        _execute(spec, result)
    result.seconds = time.perf_counter() - started
    return result


def hadoop_environment(spec: TaskSpec) -> dict[str, str]:
    """The task variables Hadoop sets for streaming tasks that scripts commonly read."""
    pipeline, part = spec.stage.task_input(spec.index)
    attempt = f"attempt_{spec.job_id}_{spec.stage.id:04d}_{spec.index:06d}_{spec.attempt}"
    env = {"mapreduce_task_partition": str(spec.index), "mapreduce_task_attempt_id": attempt}
    if isinstance(pipeline.input, FileInput):
        env["mapreduce_map_input_file"] = pipeline.input.splits[part].path
    return env


def _execute(spec: TaskSpec, result: TaskResult) -> None:
    skip = None
    if spec.skip_bad_records:
        name = f"stage-{spec.stage.id}-task-{spec.index:05d}.a{spec.attempt}.jsonl"
        skip = Quarantine(os.path.join(spec.job_dir, name), result.counters)
    try:
        _run(spec, result, skip)
    finally:
        if skip is not None:
            result.quarantine = skip.close()


def _run(spec: TaskSpec, result: TaskResult, skip: Quarantine | None) -> None:
    pipeline, part = spec.stage.task_input(spec.index)
    batches, describe = _open_input(pipeline.input, part, spec, result.counters, skip)
    counted = "input.records"
    if isinstance(pipeline.input, ShuffleInput):
        # A sort or repartition hands on the records it read; a group or an aggregation hands
        # on one per key (Hadoop's "reduce input groups"), its records read being counted from
        # the frames (`_shuffle_batches`).
        grouped = pipeline.input.kind not in RECORDS_HANDED_ON
        counted = "shuffle.groups_read" if grouped else "shuffle.records_read"
    counted_batches = _counted(batches, result.counters, counted)
    isolation = None
    if skip is not None and spec.crashed_records is not None:
        crashed = frozenset(spec.crashed_records)
        isolation = Isolation(spec.progress_path, crashed, spec.suspect_record)
        counted_batches = isolation.records(counted_batches, describe, skip)
    try:
        # The map-side combine folds pairs as the ops make them (see Lazy).
        lazy = folds(spec.stage.output)
        out = run_pipeline(
            pipeline.ops, counted_batches, describe, skip, lazy=lazy, isolated=isolation is not None
        )
        if isolation is not None and isolation.probe is not None:
            out = _probed(out, isolation.probe)
        _deliver(spec, result, out)
        if isolation is not None and isolation.probe is not None:
            raise _not_reproduced(isolation.probe)  # output cut short (take): never commit
    finally:
        if isolation is not None:
            isolation.close()


def _probed(out: Iterator[Any], position: int) -> Iterator[Any]:
    """A probe's output, delivered as usual (user code in the writer runs too); when it ends
    the attempt fails, so nothing of it is committed and the writer cleans up."""
    yield from out
    raise _not_reproduced(position)


def _not_reproduced(position: int) -> CrashNotReproduced:
    return CrashNotReproduced(
        f"the worker died with input record {position} of the task in flight, but survives it "
        "alone: the crash is not that record's (a partition function that reads ahead or keeps "
        "state across records), so skip mode cannot narrow it to one record"
    )


def _fold(writer: ShuffleWriter, batch: Lazy) -> None:
    try:
        # Counting a pass lists its trailing maps' input first: worth it only to a writer
        # that would otherwise count record by record (with the C fold, 2-3% CPU saved).
        if writer.wants_count:
            writer.fold(*batch.counted())
        else:
            writer.fold(iter(batch))
    except Exception as exc:
        batch.failed(exc)
        raise


def _deliver(spec: TaskSpec, result: TaskResult, out: Iterator[Any]) -> None:
    """Feed the task's output into its shuffle writer or its sink."""
    output = spec.stage.output
    if output is not None:
        run_dir = spec.shuffle_dir(output.shuffle_id)
        os.makedirs(run_dir, exist_ok=True)
        first = next(out, None)
        out = itertools.chain([first] if first is not None else [], out)
        blocks = first is not None and is_block(first)
        writer = make_writer(
            output,
            spec.index,
            run_dir,
            spec.memory,
            spec.attempt,
            blocks=blocks,
            map_tasks=spec.stage.num_tasks,
            compress_blocks=spec.compress_sort_runs,
        )
        try:
            for batch in out:
                if type(batch) is Lazy:
                    _fold(writer, batch)
                else:
                    writer.write(batch)
                inject("map")
            result.map_output = writer.close()
        except BaseException:
            writer.abort()
            raise
        result.counters.update(writer.stats.as_counters())
    else:
        result.sink = _write_sink(spec, out)
        result.counters["output.records"] = result.sink.records
        result.counters["output.bytes"] = result.sink.bytes


def _write_sink(spec: TaskSpec, out: Iterator[list[Any]]) -> SinkResult:
    sink = spec.sink
    assert sink is not None
    path = None
    if spec.sink_dir is not None and (sink.writes_files or sink.kind is SinkKind.COLLECT):
        path = os.path.join(spec.sink_dir, f"{sink.part_name(spec.index)}.a{spec.attempt}")
    writer = SinkWriter(sink, path)
    try:
        for batch in out:
            writer.write(batch)
            if writer.full:
                break
        return writer.close()
    except BaseException:
        writer.abort()
        raise
