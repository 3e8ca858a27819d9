"""Hadoop Streaming on gristmill: any executable as mapper, combiner or reducer.

Semantics follow Hadoop's: each map task pipes its split's lines through the mapper; an output
line's key is the text before the first tab; reducers read their partition's lines sorted by
key; ``-reducer NONE`` (or zero reduce tasks) makes a map-only job.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gristmill.api.dataset import Dataset
from gristmill.api.mr_compile import grouped_buffers
from gristmill.api.pipes import Command, pipe_lines
from gristmill.api.sources import read_text


def split_line(line: str) -> tuple[str, str | None]:
    """``key<TAB>value`` -> (key, value); a line without a tab is all key (value None)."""
    key, tab, value = line.partition("\t")
    return key, (value if tab else None)


def join_line(key: str, value: str | None) -> str:
    return key if value is None else f"{key}\t{value}"


@dataclass(frozen=True)
class MapTask:
    """Pipe a split through the mapper (and, on sorted buffers, the combiner)."""

    mapper: Command | None
    combiner: Command | None
    keyed: bool  # False for map-only jobs: mapper lines are the output as they are

    def __call__(self, lines: Iterator[str]) -> Iterator[Any]:
        out = pipe_lines(self.mapper, lines) if self.mapper is not None else lines
        if not self.keyed:
            return out
        pairs = (split_line(line) for line in out)
        if self.combiner is None:
            return pairs
        return self._combined(pairs)

    def _combined(self, pairs: Iterator[tuple[str, str | None]]) -> Iterator[Any]:
        assert self.combiner is not None
        for items in grouped_buffers(pairs):  # each sorted by key, as Hadoop sorts a spill
            lines = (join_line(k, v) for k, values in items for v in values)
            yield from (split_line(line) for line in pipe_lines(self.combiner, lines))
            items.clear()  # not held while the next buffer fills


@dataclass(frozen=True)
class ReduceTask:
    """Feed the partition's lines, sorted by key, through the reducer."""

    reducer: Command

    def __call__(self, groups: Iterator[tuple[str, Any]]) -> Iterator[str]:
        lines = (join_line(key, value) for key, values in groups for value in values)
        return pipe_lines(self.reducer, lines)


@dataclass(frozen=True)
class StreamingJob:
    """One streaming job's commands and shape, as parsed from Hadoop's options."""

    inputs: tuple[str, ...]
    mapper: Command | None
    reducer: Command | None
    combiner: Command | None = None
    reduces: int | None = None

    def dataset(self) -> Dataset:
        """The pipeline this job runs."""
        keyed = self.reducer is not None and self.reduces != 0
        ds = read_text(list(self.inputs)).map_partitions(
            MapTask(self.mapper, self.combiner if keyed else None, keyed)
        )
        if not keyed:
            return ds
        assert self.reducer is not None
        return ds.group_by_key(self.reduces).map_partitions(ReduceTask(self.reducer))
