"""Skip mode's crash narrowing: find the input record that kills worker processes.

This is Hadoop's SkipBadRecords, without the halving. After a worker dies, its task reruns
isolated: input records go through the whole pipeline (every map_partitions, the shuffle
writer or sink) one at a time, and each one's position goes to a progress file as it goes in.
If an isolated attempt dies, the record it was on is only a suspect: a partition function that
reads ahead or buffers (a combiner) may die with any record in flight. A probe attempt runs
the suspect alone; only if the worker dies on it there too is it skipped and quarantined by
later attempts. Otherwise the job fails, saying why, rather than drop innocent records one by
one. Must not import `api`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from gristmill.io.columnar import as_records
from gristmill.io.formats import Batch, Origin
from gristmill.runtime.pipeline import SkipBad, record_where, shown

CRASHED = "crashed the worker process"
END = "end"  # progress once every input record went in: a crash after it is no record's
PROBE = "probe "  # progress prefix of a probe attempt


class CrashNotReproduced(Exception):
    """A probe ran its suspect record alone and the worker survived."""


class Isolation:
    """Worker side: the task's input one record per batch, each marked on disk as it goes in.

    Records the driver blamed already are left out (quarantined). A probe (`probe` set) runs
    only the suspect record at that position of the task.
    """

    def __init__(self, progress_path: str, crashed: frozenset[int], probe: int | None) -> None:
        self.crashed, self.probe = crashed, probe
        self._prefix = PROBE if probe is not None else ""
        self._fd = os.open(progress_path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)

    def records(
        self, batches: Iterator[Batch], describe: Callable[[Any], str], skip: SkipBad
    ) -> Iterator[Batch]:
        """`batches` one record at a time; the next is read (and marked) only when the
        pipeline asks for it, i.e. once it is done with the previous one."""
        position = -1
        for batch in batches:
            records, origin = batch.records, batch.origin
            for index in range(len(records)):
                position += 1
                if self.probe is not None and position != self.probe:
                    continue
                one = records[index : index + 1]  # a block or table stays columnar
                if position in self.crashed:
                    record = as_records(one)[0]
                    skip(record_where(origin, index, describe, record), CRASHED, shown(record))
                    continue
                self._mark(f"{self._prefix}{position}")
                yield Batch(one, None if origin is None else _pinned(origin, index))
        self._mark(f"{self._prefix}{END}")

    def _mark(self, text: str) -> None:
        data = f"{text}\n".encode()
        os.pwrite(self._fd, data, 0)
        os.ftruncate(self._fd, len(data))

    def close(self) -> None:
        os.close(self._fd)


def _pinned(origin: Origin, index: int) -> Origin:
    """`origin` narrowed to its record `index`, which becomes record 0."""
    line = index if origin.indices is None else origin.indices[index]
    return Origin(
        origin.path, origin.offset, origin.line, origin.raw, [line], origin.record_size, origin.rows
    )


def read_progress(path: str) -> str | None:
    """What a dead isolated attempt was doing when it died (None: it marked nothing)."""
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip() or None
    except OSError:
        return None


@dataclass
class Narrowing:
    """Driver side: one task's narrowing so far."""

    crashed: tuple[int, ...] = ()  # positions blamed: later attempts skip them
    suspect: int | None = None  # set: the next attempt is a probe of this position
    free: int = 0  # attempts scheduled by narrowing, not counted against max_attempts

    def after(self, *, crashed: bool, progress: str | None) -> tuple[bool, str]:
        """Account for a failed isolated attempt: whether to retry it for free, and a note
        for its error (why the crash could not be narrowed, if it could not)."""
        suspect, self.suspect = self.suspect, None
        if suspect is not None:
            if not crashed:  # CrashNotReproduced, or the user's error: it says why
                return False, ""
            if progress == f"{PROBE}{suspect}":
                self.crashed = (*self.crashed, suspect)
                self.free += 1
                return True, f"input record {suspect} of the task kills it alone: skipping it"
            return False, (
                f"skip mode cannot narrow the crash to an input record: input record {suspect} "
                "of the task alone killed the worker only after it was done with it (at the "
                "end of a map_partitions function, a combiner or a *_final hook)"
            )
        if not crashed:
            return False, ""
        if progress is None or not progress.isdigit():
            read = "all" if progress == END else "none"
            return False, (
                "skip mode cannot narrow the crash to an input record: the worker died when the "
                f"task had read {read} of its input (in a partition function that reads ahead, "
                "a combiner, or a *_init or *_final hook)"
            )
        self.suspect = int(progress)
        self.free += 1
        return True, f"input record {self.suspect} of the task was in flight: trying it alone"
