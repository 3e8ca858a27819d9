"""The driver: run a `StageGraph` stage by stage on a backend, retry failed attempts, commit.

Stages run in dependency order; each stage's tasks go to the backend at once and the backend
decides placement. The first successful attempt of a task wins (commit arbitration lives
here, in one process, so a late attempt can never commit twice); counters come only from
winners. Range boundaries of a sort are chosen here, between the map and reduce stages.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import cloudpickle

from gristmill.config import Config
from gristmill.errors import DiskFullError, JobFailedError, UsageError
from gristmill.faults import inject
from gristmill.io import scratch
from gristmill.io.commit import OutputCommitter
from gristmill.io.formats import check_unchanged
from gristmill.plan.logical import ShuffleKind
from gristmill.plan.sinks import Sink
from gristmill.plan.stages import FileInput, ItemsInput, ShuffleInput, Stage, StageGraph
from gristmill.runtime import replay
from gristmill.runtime.backends import Backend, InlineBackend
from gristmill.runtime.events import (
    Event,
    JobFinished,
    JobStarted,
    Listener,
    StageFinished,
    StageStarted,
    TaskFailed,
    TaskFinished,
)
from gristmill.runtime.narrowing import Narrowing, read_progress
from gristmill.runtime.quarantine import COUNTER as QUARANTINE_COUNTER
from gristmill.runtime.quarantine import SKIPPED_SHOWN, entry_count, skipped_lines
from gristmill.runtime.result import JobResult, StageSummary
from gristmill.runtime.sinks import SinkResult
from gristmill.runtime.task import TaskFailure, TaskResult, TaskSpec
from gristmill.shuffle.blocks import forget_run_indexes
from gristmill.shuffle.order import merged_total
from gristmill.shuffle.ranges import choose_boundaries
from gristmill.shuffle.reader import ReduceSource
from gristmill.shuffle.runfile import read_frames, read_index
from gristmill.shuffle.writer import MapOutput


@dataclass
class JobRun:
    """The outcome of `run_job`: the result plus what non-file sinks produced."""

    result: JobResult
    sinks: list[Any] = field(default_factory=list)  # committed SinkResults, in task order
    records: list[Any] = field(default_factory=list)  # collected records (collect/take)


def new_job_id() -> str:
    """Sortable and unique: ``20261125-101500-1a2b3c4d``."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"


def make_backend(config: Config) -> Backend:
    if config.executor == "inline":
        return InlineBackend()
    from gristmill.runtime.local import LocalBackend

    return LocalBackend(config.workers, config.task_timeout, config.memory)


def check_picklable(graph: StageGraph) -> None:
    """Reject user functions that cannot travel to workers before any work starts."""
    for stage in graph.stages:
        for pipeline in stage.pipelines:
            things: list[tuple[str, Any]] = [(op.describe(), op) for op in pipeline.ops]
            if isinstance(pipeline.input, ItemsInput):
                things.append(("the items given to from_items", pipeline.input))
            for what, thing in things:
                try:
                    cloudpickle.dumps(thing)
                except Exception as exc:
                    raise UsageError(f"cannot send {what} to worker processes: {exc}") from exc


@dataclass
class _Driver:
    graph: StageGraph
    config: Config
    backend: Backend
    job_id: str
    job_dir: str
    listeners: Sequence[Listener]
    sink: Sink
    committer: OutputCommitter | None
    map_outputs: dict[int, list[MapOutput]] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    summaries: list[StageSummary] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)  # committed attempts' skipped records
    resumed: dict[int, dict[str, Any]] = field(default_factory=dict)  # final tasks already done
    crashes: dict[tuple[int, int], Narrowing] = field(default_factory=dict)  # skip mode
    bad_records: int = 0
    skipped_sample: list[str] = field(default_factory=list)  # the first few, for the error
    records_read: int = 0
    reading: set[int] = field(default_factory=set)  # stages still to read input (not shuffle)

    def emit(self, event: Event) -> None:
        for listener in self.listeners:
            listener(event)

    def run(self) -> list[TaskResult]:
        stages = tuple((s.id, s.num_tasks) for s in self.graph.stages)
        self.emit(JobStarted(self.job_id, stages))
        self.reading = {
            s.id
            for s in self.graph.stages
            if any(not isinstance(p.input, ShuffleInput) for p in s.pipelines)
        }
        results: list[TaskResult] = []
        for stage in self.graph.stages:
            results = self.run_stage(stage)
        return results

    def run_stage(self, stage: Stage) -> list[TaskResult]:
        started = time.perf_counter()
        self.emit(StageStarted(self.job_id, stage.id, stage.num_tasks))
        sources = self.reduce_sources(stage)
        sink_dir = None
        if stage.output is None:
            sink_dir = self.committer.attempts if self.committer else self.results_dir()
        done: dict[int, TaskResult] = {}
        if stage.output is None:
            done = {i: self.reused(i, record) for i, record in self.resumed.items()}
            for reused in done.values():  # their records count, as in the run that made them
                self.within_budget(reused)
        for index in range(stage.num_tasks):
            if index not in done:
                self.backend.submit(self.spec(stage, index, 1, sources, sink_dir))
        ordered = self.await_tasks(stage, sources, sink_dir, done)
        stage_counters: dict[str, int] = {}
        for res in ordered:
            for name, value in res.counters.items():
                stage_counters[name] = stage_counters.get(name, 0) + value
        for name, value in stage_counters.items():
            self.counters[name] = self.counters.get(name, 0) + value
        if stage.output is not None:
            self.map_outputs[stage.output.shuffle_id] = [
                r.map_output for r in ordered if r.map_output is not None
            ]
        self.reading.discard(stage.id)
        self.check_budget(f"stage {stage.id}")
        seconds = time.perf_counter() - started
        self.summaries.append(StageSummary(stage.id, stage.num_tasks, seconds, stage_counters))
        self.emit(StageFinished(self.job_id, stage.id, seconds, stage_counters))
        return ordered

    def reused(self, index: int, record: dict[str, Any]) -> TaskResult:
        """A final task committed by an earlier, killed run of this plan (--resume)."""
        assert self.committer is not None
        path = os.path.join(self.committer.dest, str(record["name"]))
        sink = SinkResult(path=path, records=int(record["records"]), bytes=int(record["bytes"]))
        name = f"stage {self.graph.final.id} task {index}"
        return TaskResult(name, index, 0, dict(record["counters"]), sink=sink)

    def await_tasks(
        self,
        stage: Stage,
        sources: dict[int, ReduceSource],
        sink_dir: str | None,
        done: dict[int, TaskResult],
    ) -> list[TaskResult]:
        """Poll until every task has a winning attempt; retry failures; commit final tasks."""
        while len(done) < stage.num_tasks:
            outcome = self.backend.poll()
            if outcome is None:
                raise RuntimeError(f"backend lost track of tasks in stage {stage.id}")
            if outcome.index in done:
                continue  # a late attempt of a task that already won: never committed
            if isinstance(outcome, TaskFailure):
                self.failed(stage, outcome, sources, sink_dir)
                continue
            done[outcome.index] = outcome
            self.within_budget(outcome)
            if stage.output is None:
                self.commit_task(outcome)
            elif outcome.quarantine is not None:
                self.quarantined.append(outcome.quarantine)
            self.emit(
                TaskFinished(
                    self.job_id,
                    stage.id,
                    outcome.index,
                    outcome.attempt,
                    outcome.seconds,
                    outcome.counters,
                )
            )
        return [done[i] for i in range(stage.num_tasks)]

    def within_budget(self, result: TaskResult) -> None:
        """Count a winner's skipped and read records; fail the job once over `max_bad_records`."""
        self.bad_records += result.counters.get(QUARANTINE_COUNTER, 0)
        self.records_read += result.counters.get("input.records", 0)
        if result.quarantine is not None and len(self.skipped_sample) < SKIPPED_SHOWN:
            self.skipped_sample += skipped_lines(result.quarantine, SKIPPED_SHOWN)
            del self.skipped_sample[SKIPPED_SHOWN:]
        self.check_budget(result.name)

    def check_budget(self, where: str) -> None:
        """Fail if the skipped records are over `max_bad_records`, as soon as that is certain.

        A count is checked at any time: skipped records only grow. A fraction is checked only
        once no stage is left to read input, so its denominator is every record the job reads:
        a running fraction would make the outcome depend on which tasks finished first.
        """
        limit = self.config.max_bad_records
        if limit is None or not self.bad_records:
            return
        if limit >= 1:
            budget, of = limit, ""
        elif not self.reading:
            budget, of = limit * max(self.records_read, 1), f" of {self.records_read} records read"
        else:
            return
        if self.bad_records > budget:
            # A failed job keeps no output, its quarantine included: show the first ones here.
            shown = "".join(f"\n  {line}" for line in self.skipped_sample)
            raise JobFailedError(
                f"too many bad records: {self.bad_records} skipped, budget {limit:g}{of} "
                f"(exceeded at {where}); the first {len(self.skipped_sample)}:{shown}"
            )

    def spec(
        self,
        stage: Stage,
        index: int,
        attempt: int,
        sources: dict[int, ReduceSource],
        sink_dir: str | None,
    ) -> TaskSpec:
        pipeline, _ = stage.task_input(index)
        narrowing = self.crashes.get((stage.id, index))
        source = None
        if isinstance(pipeline.input, ShuffleInput):
            source = sources[pipeline.input.shuffle_id]
        return TaskSpec(
            self.job_id,
            stage,
            index,
            attempt,
            self.job_dir,
            self.config.memory,
            self.sink if stage.output is None else None,
            sink_dir,
            source,
            self.config.skip_bad_records,
            self.config.skip_corrupt_files,
            None if narrowing is None else narrowing.crashed,
            self.config.compress_sort_runs,
            None if narrowing is None else narrowing.suspect,
        )

    def failed(
        self,
        stage: Stage,
        failure: TaskFailure,
        sources: dict[int, ReduceSource],
        sink_dir: str | None,
    ) -> None:
        narrowed = self.narrow_crash(stage, failure, sources, sink_dir)
        if narrowed is None:
            return
        failure = narrowed
        narrowing = self.crashes.get((stage.id, failure.index))
        free = 0 if narrowing is None else narrowing.free
        if failure.attempt < self.config.max_attempts + free:
            self.retry(stage, failure, failure.error, sources, sink_dir)
            return
        self.emit(
            TaskFailed(
                self.job_id,
                stage.id,
                failure.index,
                failure.attempt,
                failure.error,
                will_retry=False,
            )
        )
        if failure.crashed:
            # A worker killed by a fault, such as SIGBUS from an input file truncated under its
            # memory map, is explained by the change, not by the signal.
            _check_inputs_unchanged(self.graph)
        message = _failure_message(failure, failure.attempt)
        dead = self.spec(stage, failure.index, failure.attempt, sources, sink_dir)
        try:
            bundle = replay.save(dead)
        except Exception as exc:  # the task's own error is what matters: keep it, say why
            message += f"\n  (no replay bundle: {type(exc).__name__}: {exc})"
        else:
            message += f"\n  replay this attempt in-process: gristmill replay {bundle} [--pdb]"
        error = DiskFullError if failure.error_type == DiskFullError.__name__ else JobFailedError
        raise error(
            message,
            task=failure.name,
            location=failure.location,
            user_traceback=failure.traceback,
        )

    def narrow_crash(
        self,
        stage: Stage,
        failure: TaskFailure,
        sources: dict[int, ReduceSource],
        sink_dir: str | None,
    ) -> TaskFailure | None:
        """Skip mode: find the record that kills workers (see `runtime.narrowing`).

        After a crash the task reruns isolated. Returns None when narrowing scheduled a retry
        that does not count against the task's attempts, else the failure to handle as usual,
        its error saying why narrowing did not help if it did not.
        """
        if not self.config.skip_bad_records:
            return failure
        key = (stage.id, failure.index)
        narrowing = self.crashes.get(key)
        if narrowing is None:
            if failure.crashed:
                self.crashes[key] = Narrowing()  # the next attempt (counted) runs isolated
            return failure
        dead = self.spec(stage, failure.index, failure.attempt, sources, sink_dir)
        progress = read_progress(dead.progress_path) if failure.crashed else None
        free, note = narrowing.after(crashed=failure.crashed, progress=progress)
        error = f"{failure.error}; {note}" if note else failure.error
        if free:
            self.retry(stage, failure, error, sources, sink_dir)
            return None
        return replace(failure, error=error)

    def retry(
        self,
        stage: Stage,
        failure: TaskFailure,
        error: str,
        sources: dict[int, ReduceSource],
        sink_dir: str | None,
    ) -> None:
        """Report the failed attempt and submit the task's next attempt."""
        event = TaskFailed(
            self.job_id, stage.id, failure.index, failure.attempt, error, will_retry=True
        )
        self.emit(event)
        self.backend.submit(self.spec(stage, failure.index, failure.attempt + 1, sources, sink_dir))

    def reduce_sources(self, stage: Stage) -> dict[int, ReduceSource]:
        sources: dict[int, ReduceSource] = {}
        for pipeline in stage.pipelines:
            inp = pipeline.input
            if isinstance(inp, ShuffleInput) and inp.shuffle_id not in sources:
                outputs = self.map_outputs[inp.shuffle_id]
                runs = tuple(run for out in outputs for run in out.runs)
                # Runs merge in their keys' natural order only if all share one family.
                total = merged_total([run.family for run in runs])
                bounds: tuple[Any, ...] = ()
                if inp.kind is ShuffleKind.SORT:
                    samples = [key for out in outputs for key in out.samples]
                    bounds, total = choose_boundaries(samples, inp.num_partitions, total)
                sources[inp.shuffle_id] = ReduceSource(runs, bounds, total)
        return sources

    def results_dir(self) -> str:
        path = os.path.join(self.job_dir, "results")
        os.makedirs(path, exist_ok=True)
        return path

    def commit_task(self, result: TaskResult) -> None:
        sink = result.sink
        if sink is None or sink.path is None:
            return
        name = self.sink.part_name(result.index)
        inject("task_commit")
        if self.committer is not None:
            if result.quarantine is not None:  # kept with the task, so a resume keeps it too
                self.committer.commit_quarantine([result.quarantine])
            self.committer.commit_task(
                result.index,
                sink.path,
                name,
                records=sink.records,
                size=sink.bytes,
                counters=result.counters,
            )
            sink.path = os.path.join(self.committer.dest, name)
        else:
            final = os.path.join(os.path.dirname(sink.path), name)
            os.replace(sink.path, final)
            sink.path = final


def _failure_message(failure: TaskFailure, attempts: int) -> str:
    lines = [f"{failure.name} failed after {attempts} attempt(s): {failure.error}"]
    if failure.location:
        lines.append(f"  record: {failure.location}")
    if failure.traceback:
        lines.append("  user traceback (last attempt):")
        lines += ["    " + ln for ln in failure.traceback.rstrip().splitlines()]
    return "\n".join(lines)


def _read_collected(sinks: list[Any], limit: int | None) -> list[Any]:
    records: list[Any] = []
    for sink in sinks:
        if sink.path is None:
            continue
        for batch in read_frames(sink.path, read_index(sink.path)):
            records.extend(batch)
            if limit is not None and len(records) >= limit:
                return records[:limit]
    return records


def plan_fingerprint(graph: StageGraph, sink: Sink) -> str:
    """What a resumed run must match: the stages, their inputs' versions and the sink."""
    readers = [  # options that change what a file reads as: delimiter, columns, types
        [p.input.csv_options, p.input.record_size]
        for stage in graph.all_stages()
        for p in stage.pipelines
        if isinstance(p.input, FileInput)
    ]
    body = json.dumps(
        [graph.describe(), _input_manifest(graph), readers, sink.kind.value], default=str
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _check_inputs_unchanged(graph: StageGraph) -> None:
    """Every input must still be the version planned, or the output would mix versions."""
    seen: set[str] = set()
    for stage in graph.all_stages():
        for pipeline in stage.pipelines:
            if isinstance(pipeline.input, FileInput):
                for split in pipeline.input.splits:
                    if split.path not in seen:
                        seen.add(split.path)
                        check_unchanged(split)


def _input_manifest(graph: StageGraph) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for stage in graph.all_stages():
        for pipeline in stage.pipelines:
            if isinstance(pipeline.input, FileInput):
                for split in pipeline.input.splits:
                    seen[split.path] = {
                        "path": split.path,
                        "size": split.file_size,
                        "mtime": split.mtime,
                    }
    return [seen[p] for p in sorted(seen)]


def _refuse_reading_output(graph: StageGraph, dest: str) -> None:
    """Overwriting the input being read would destroy it mid-job: refuse before any work."""
    inside = dest.rstrip(os.sep) + os.sep
    for entry in _input_manifest(graph):
        path = os.path.abspath(str(entry["path"]))
        if path == dest or path.startswith(inside):
            raise UsageError(f"the job reads its own output path {dest} (input {path})")


def _first_line(exc: BaseException) -> str:
    """What a failed job's summary says: the error's first line; a cancel has no message."""
    if isinstance(exc, KeyboardInterrupt):
        return "cancelled"
    return str(exc).split("\n")[0] or type(exc).__name__


def run_job(
    graph: StageGraph,
    sink: Sink,
    config: Config,
    *,
    output: str | None = None,
    overwrite: bool = False,
    listeners: Sequence[Listener] = (),
    quarantine: Sequence[str] = (),
) -> JobRun:
    """Run `graph` into `sink`; file sinks commit atomically to `output`, with the records
    skip mode left out, `quarantine` (of cached datasets computed for it) among them."""
    job_id = new_job_id()
    started = time.perf_counter()
    committer = OutputCommitter(output, job_id, overwrite=overwrite) if output else None
    if committer is not None:
        committer.check()
        _refuse_reading_output(graph, committer.dest)
    if config.executor != "inline":
        check_picklable(graph)
    scratch.reclaim(config.scratch_dir)  # left by drivers killed outright
    job_scratch = scratch.Scratch(f"gristmill-{job_id}-", config.scratch_dir)
    job_dir = job_scratch.path
    backend: Backend | None = None
    driver: _Driver | None = None
    try:
        resumed: dict[int, dict[str, Any]] = {}
        if committer is not None:
            resumed = committer.setup(plan_fingerprint(graph, sink), resume=config.resume)
        backend = make_backend(config)
        driver = _Driver(graph, config, backend, job_id, job_dir, listeners, sink, committer)
        driver.resumed = resumed
        final = driver.run()
        sinks = [r.sink for r in final]
        records = _read_collected(sinks, sink.limit) if not sink.writes_files else []
        paths: list[str] = []
        if committer is not None:
            _check_inputs_unchanged(graph)
            if quarantine:  # a cached dataset's skipped records, quarantined with these
                cached = sum(entry_count(path) for path in quarantine)
                driver.counters[QUARANTINE_COUNTER] = (
                    driver.counters.get(QUARANTINE_COUNTER, 0) + cached
                )
            committer.commit_quarantine([*quarantine, *driver.quarantined])
            manifest = {"counters": driver.counters, "inputs": _input_manifest(graph)}
            paths = committer.commit_job(manifest)
        seconds = time.perf_counter() - started
        result = JobResult(
            job_id,
            committer.dest if committer else None,
            tuple(paths),
            dict(driver.counters),
            tuple(driver.summaries),
            seconds,
        )
        for listener in listeners:
            listener(JobFinished(job_id, ok=True, seconds=seconds, counters=dict(driver.counters)))
        return JobRun(result, sinks, records)
    except BaseException as exc:
        try:
            if backend is not None:
                # Tasks still running write into the staging area: stop them before removing
                # it, or one can recreate its folder after the removal and leave it behind.
                backend.close()
        finally:
            if committer is not None:
                committer.abort()
        seconds = time.perf_counter() - started
        counters = dict(driver.counters) if driver else {}
        for listener in listeners:
            listener(
                JobFinished(
                    job_id,
                    ok=False,
                    seconds=seconds,
                    counters=counters,
                    error=_first_line(exc),
                )
            )
        raise
    finally:
        if backend is not None:
            backend.close()
        job_scratch.close()
        forget_run_indexes()  # tasks run inline cached the indexes of runs just removed
