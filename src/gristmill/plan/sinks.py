"""Where the final stage's records go; chosen by the action (write, collect, count, take, top).

Plain frozen data, interpreted by `runtime.sinks`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class SinkKind(enum.Enum):
    TEXT = "text"
    JSONL = "jsonl"
    COLLECT = "collect"
    COUNT = "count"
    TOP = "top"
    BINARY = "binary"  # raw fixed-width records, as read by read_binary_records
    PARQUET = "parquet"  # dict records (a column per key) or pyarrow tables
    FRAMES = "frames"  # pickled record frames: a cached dataset's partitions


@dataclass(frozen=True)
class Sink:
    """`limit` stops each task early (take); `key` orders `top`."""

    kind: SinkKind
    limit: int | None = None
    key: Callable[[Any], Any] | None = None

    @property
    def writes_files(self) -> bool:
        return self.kind in (
            SinkKind.TEXT,
            SinkKind.JSONL,
            SinkKind.BINARY,
            SinkKind.PARQUET,
            SinkKind.FRAMES,
        )

    def part_name(self, index: int) -> str:
        suffix = _SUFFIXES.get(self.kind, "")
        return f"part-{index:05d}{suffix}"


_SUFFIXES = {SinkKind.JSONL: ".jsonl", SinkKind.PARQUET: ".parquet"}
