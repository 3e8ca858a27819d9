"""Merging sorted runs with a bounded fan-in: more runs than memory allows merge in passes.

A reducer holds one decoded frame per run it merges, so merging every run at once would make
its memory grow with the number of spills. Past the fan-in the budget allows, consecutive
groups of runs are merged into intermediate run files first (Hadoop's io.sort.factor), which
keeps ties in run order: the final result equals a single all-runs merge.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import uuid
from collections.abc import Callable, Generator, Iterator
from typing import Any

from gristmill.shuffle.order import merge_key
from gristmill.shuffle.runfile import RunWriter, read_frames, read_index

MERGE_SHARE = 0.25  # of the budget, for the decoded frames a merge holds (one per run)
FRAME_COST = 512 * 1024  # a decoded frame: ~256KB of estimated records, doubled for slack
MERGE_BATCH = 2048  # records per frame of an intermediate run

Merge = Callable[[list[Iterator[Any]]], Iterator[Any]]


def fan_in(memory: int) -> int:
    """How many runs one merge may read at once under a worker budget of `memory`.

    >>> fan_in(512 * 1024**2), fan_in(4 * 1024**2)
    (256, 2)
    """
    return max(2, int(memory * MERGE_SHARE) // FRAME_COST)


def merge(
    streams: list[Iterator[Any]],
    total: bool,
    *,
    reverse: bool = False,
    value_key: Callable[[Any], Any] | None = None,
) -> Iterator[Any]:
    """K-way merge of sorted pair streams; ties keep stream order."""
    if len(streams) == 1:
        return streams[0]
    return heapq.merge(*streams, key=merge_key(total, value_key), reverse=reverse)


def bounded(streams: list[Iterator[Any]], combine: Merge, width: int, scratch: str) -> list[Any]:
    """Streams no more than `width` in number, merging groups through scratch files as needed.

    `combine` merges one group into a single sorted stream (and may combine values). If a
    merge fails, the files written so far are removed (the caller closes the streams it
    passed in).
    """
    while len(streams) > width:
        merged: list[Iterator[Any]] = []
        try:
            for start in range(0, len(streams), width):
                group = streams[start : start + width]
                merged.append(
                    group[0] if len(group) == 1 else spill_sorted(combine(group), scratch)
                )
        except BaseException:
            close_runs(merged)
            raise
        streams = merged
    return streams


def spill_sorted(records: Iterator[Any], scratch: str) -> SpilledRun:
    """Write `records` (sorted) to a run in `scratch` now; returns a stream that reads them
    back once and removes the file."""
    path = os.path.join(scratch, f"merge-{os.getpid()}-{uuid.uuid4().hex[:12]}.run")
    writer = RunWriter(path)
    try:
        while chunk := list(itertools.islice(records, MERGE_BATCH)):
            writer.write_frame(0, chunk)
        writer.close()  # writes the last frames: a full disk can fail it too
    except BaseException:
        writer.abort()
        raise
    return SpilledRun(path)


class SpilledRun:
    """A sorted run in scratch, read back once. The file goes when the reading ends or
    `close()` is called, also before any reading (a failed task closes the runs it never
    started: a generator not yet started would never run its cleanup)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._records: Generator[Any, None, None] | None = None

    def __iter__(self) -> SpilledRun:
        return self

    def __next__(self) -> Any:
        if self._records is None:
            self._records = self._read()
        return next(self._records)

    def _read(self) -> Generator[Any, None, None]:
        try:
            for batch in read_frames(self.path, read_index(self.path)):
                yield from batch
        finally:
            self._unlink()

    def close(self) -> None:
        if self._records is not None:
            self._records.close()
        self._unlink()

    def _unlink(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def close_runs(streams: list[Any]) -> None:
    """Remove the scratch runs among `streams` (after a failure: the others are the caller's)."""
    for stream in streams:
        if isinstance(stream, SpilledRun):
            stream.close()
