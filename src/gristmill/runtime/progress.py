"""Progress reporting: a bar per stage on a terminal, plain log lines otherwise.

A listener of scheduler events. Rendering happens on the driver's own thread (no refresh
thread), which keeps forking worker processes safe. `rich` loads only on a terminal.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from gristmill.runtime.events import (
    Event,
    JobFinished,
    JobStarted,
    StageFinished,
    StageStarted,
    TaskFailed,
    TaskFinished,
)
from gristmill.runtime.result import format_summary


def _fmt_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024:
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.1f}TB"


def _flow(c: dict[str, int]) -> tuple[int, int, int]:
    """Records in, bytes in and bytes out of a stage or task, from its counters.

    A map stage reads input files and writes shuffle runs; a reduce stage reads those runs
    (``shuffle.bytes_read``, the same compressed unit as ``shuffle.bytes_written``) and writes
    runs or output. Keeping in and out apart stops one stage's figure mixing the two.
    """
    records = c.get("input.records", 0) + c.get("shuffle.records_read", 0)
    bytes_in = c.get("input.bytes", 0) + c.get("shuffle.bytes_read", 0)
    bytes_out = c.get("shuffle.bytes_written", 0) + c.get("output.bytes", 0)
    return records, bytes_in, bytes_out


def _describe(records: int, bytes_in: int, bytes_out: int) -> str:
    """``1,200 records in (3.4MB), 1.1MB out``."""
    return f"{records:,} records in ({_fmt_bytes(bytes_in)}), {_fmt_bytes(bytes_out)} out"


class LogProgress:
    """One line per stage and per failure, for logs and pipes."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr

    def __call__(self, event: Event) -> None:
        line = None
        if isinstance(event, JobStarted):
            line = f"job {event.job_id}: {len(event.stages)} stage(s)"
        elif isinstance(event, StageFinished):
            flow = _describe(*_flow(event.counters))
            line = f"stage {event.stage_id} done in {event.seconds:.2f}s: {flow}"
        elif isinstance(event, JobFinished):
            line = format_summary(
                event.job_id, event.seconds, event.counters, ok=event.ok, error=event.error
            )
        elif isinstance(event, TaskFailed):
            retry = "retrying" if event.will_retry else "giving up"
            line = (
                f"stage {event.stage_id} task {event.index} attempt {event.attempt} failed "
                f"({retry}): {event.error.splitlines()[0] if event.error else ''}"
            )
        if line:
            print(f"[gristmill] {line}", file=self.stream, flush=True)


class BarProgress:
    """Rich progress bars, refreshed from the scheduler's events (at most ~10 times a second)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._progress = Progress(
            TextColumn("[bold]stage {task.fields[stage]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            console=Console(stderr=True),
            auto_refresh=False,
            transient=False,
        )
        self._bars: dict[int, Any] = {}
        self._flows: dict[int, tuple[int, int, int]] = {}  # per stage: records, bytes in, out
        self._last = 0.0

    def __call__(self, event: Event) -> None:
        p = self._progress
        if isinstance(event, JobStarted):
            p.start()
            for stage_id, tasks in event.stages:
                self._bars[stage_id] = p.add_task("", total=tasks, stage=stage_id, info="waiting")
        elif isinstance(event, StageStarted):
            p.update(self._bars[event.stage_id], info="running")
        elif isinstance(event, TaskFinished):
            sid = event.stage_id
            records, bytes_in, bytes_out = _flow(event.counters)
            r, i, o = self._flows.get(sid, (0, 0, 0))
            self._flows[sid] = (r + records, i + bytes_in, o + bytes_out)
            p.update(self._bars[sid], advance=1, info=_describe(*self._flows[sid]))
        elif isinstance(event, StageFinished):
            bar = self._bars[event.stage_id]
            p.update(bar, info=p.tasks[bar].fields["info"] + f" in {event.seconds:.1f}s")
        elif isinstance(event, JobFinished):
            p.refresh()
            p.stop()
            summary = format_summary(
                event.job_id, event.seconds, event.counters, ok=event.ok, error=event.error
            )
            p.console.print(summary, markup=False, highlight=False)
            return
        now = time.monotonic()
        if now - self._last > 0.1:
            self._last = now
            p.refresh()


def default_listener(enabled: bool | None) -> Any:
    """Bars on a terminal, lines when not, nothing when `enabled` is False."""
    if enabled is False:
        return None
    if enabled is None and not sys.stderr.isatty():
        return LogProgress()
    return BarProgress() if sys.stderr.isatty() else LogProgress()
