"""TeraSort: teragen, terasort and teravalidate, on the sort benchmark's record layout.

Records are 100 bytes, keyed by their first 10, laid out as the benchmark's ``gensort`` writes
them in binary mode: 10 random key bytes, ``00 11``, the row number as 32 hex digits,
``88 99 AA BB``, 48 filler bytes, ``CC DD EE FF``. Files from ``gensort`` itself sort and
validate the same way. All three run as gristmill jobs on blocks of records (numpy), never a
Python object per record; the checksum is valsort's (sum of each record's CRC-32).
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gristmill as gm

if TYPE_CHECKING:
    from gristmill.io.binary import Block

RECORD, KEY = 100, 10
ROWS_PER_TASK = 500_000  # 50 MB of records per teragen task
_HEX = b"0123456789ABCDEF"


@dataclass(frozen=True)
class Generate:
    """Make the records of ``(first_row, rows)`` ranges; keys come from a per-range seed."""

    seed: int

    def __call__(self, ranges: list[tuple[int, int]]) -> Block:
        import numpy as np

        blocks = [self.rows(first, count) for first, count in ranges]
        return np.concatenate(blocks) if blocks else np.empty((0, RECORD), dtype=np.uint8)

    def rows(self, first: int, count: int) -> Block:
        import numpy as np

        rng = np.random.default_rng([self.seed, first])
        out = np.empty((count, RECORD), dtype=np.uint8)
        out[:, :KEY] = rng.integers(0, 256, size=(count, KEY), dtype=np.uint8)
        out[:, 10:12] = (0x00, 0x11)
        numbers = np.arange(first, first + count, dtype=np.uint64)
        hexchars = np.frombuffer(_HEX, dtype=np.uint8)
        out[:, 12:28] = ord("0")  # the high 64 bits of the 128-bit row number
        for digit in range(16):
            shift = np.uint64(4 * (15 - digit))
            out[:, 28 + digit] = hexchars[(numbers >> shift) & np.uint64(15)]
        out[:, 44:48] = (0x88, 0x99, 0xAA, 0xBB)
        filler = hexchars[rng.integers(0, 16, size=(count, 12), dtype=np.uint8)]
        out[:, 48:96] = np.repeat(filler, 4, axis=1)
        out[:, 96:100] = (0xCC, 0xDD, 0xEE, 0xFF)
        return out


def teragen(rows: int, seed: int = 0) -> gm.Dataset:
    """`rows` records in gensort's binary layout, reproducible for a given `seed`."""
    if rows < 0:
        raise gm.UsageError(f"teragen needs a non-negative row count, got {rows}")
    ranges = [(s, min(ROWS_PER_TASK, rows - s)) for s in range(0, rows, ROWS_PER_TASK)]
    return gm.from_items(ranges, partitions=max(1, len(ranges))).map_batches(Generate(seed))


def terasort(inputs: Sequence[str], partitions: int | None = None) -> gm.Dataset:
    """The records of `inputs` in key order: part files concatenated by name are sorted."""
    return gm.read_binary_records(inputs, RECORD).sort_by(gm.prefix_key(KEY), partitions=partitions)


def sort_partitions(input_bytes: int, memory: int, map_tasks: int) -> int:
    """Reduce partitions for a sort: at least one per map task, each a quarter of the budget.

    A partition that fits half the worker budget is sorted in one pass; aiming at a quarter
    leaves room for sampling error, so skew-free input never needs the windowed merge.

    >>> sort_partitions(10 * 1024**3, 512 * 1024**2, 80)
    80
    """
    return max(1, map_tasks, math.ceil(input_bytes / max(1, memory // 4)))


def partitions_for(inputs: Sequence[str], config: gm.Config) -> int:
    """`sort_partitions` for the files of `inputs` under `config`'s memory and split size."""
    from gristmill.io.fs import list_inputs
    from gristmill.io.splits import split_files
    from gristmill.plan.planner import auto_split_size

    files = list(list_inputs(tuple(inputs)))
    total = sum(f.size for f in files)
    split = config.split_size or auto_split_size(total)
    # Count the planner's splits: many small files make more map tasks than total / split.
    return sort_partitions(total, config.memory, len(split_files(files, split)))


@dataclass(frozen=True)
class Summary:
    """What teravalidate learns from one block: counts, first/last key, order, checksum."""

    records: int
    first: bytes
    last: bytes
    unordered: int  # adjacent pairs out of order inside the block
    duplicates: int  # adjacent pairs with equal keys inside the block
    checksum: int
    first_unordered: int = -1  # index in the block of the first record smaller than its previous


def summarize(block: Block) -> list[Summary]:
    """One `Summary` per block; the per-record CRC sum is valsort's checksum."""
    import numpy as np

    from gristmill.shuffle.blocks import key_column

    if not len(block):
        return []
    keys = key_column(block, KEY)
    down = keys[1:] < keys[:-1]
    unordered = int(np.count_nonzero(down))
    first_unordered = int(np.argmax(down)) + 1 if unordered else -1
    duplicates = int(np.count_nonzero(keys[1:] == keys[:-1]))
    data = memoryview(block.tobytes())
    crc = zlib.crc32
    checksum = sum(crc(data[i : i + RECORD]) for i in range(0, len(data), RECORD))
    first, last = block[0, :KEY].tobytes(), block[-1, :KEY].tobytes()
    return [Summary(len(block), first, last, unordered, duplicates, checksum, first_unordered)]


def combine(summaries: Iterator[Summary]) -> Iterable[str]:
    """Fold block summaries, in input order, into the report's ``name<TAB>value`` lines."""
    records = unordered = duplicates = checksum = 0
    previous: bytes | None = None
    first_error = -1
    for s in summaries:
        boundary = previous is not None and s.first < previous
        if first_error < 0 and boundary:
            first_error = records
        elif first_error < 0 and s.unordered:
            first_error = records + s.first_unordered
        unordered += s.unordered + boundary
        duplicates += s.duplicates + (previous == s.first)
        records += s.records
        checksum += s.checksum
        previous = s.last
    yield f"records\t{records}"
    yield f"checksum\t{checksum:x}"
    yield f"duplicate_keys\t{duplicates}"
    yield f"unordered_pairs\t{unordered}"
    yield f"sorted\t{'yes' if not unordered else 'no'}"
    if first_error >= 0:
        yield f"first_unordered_record\t{first_error}"


def teravalidate(inputs: Sequence[str]) -> gm.Dataset:
    """The validation report of `inputs` read in name order, as one part file of lines."""
    blocks = gm.read_binary_records(inputs, RECORD).map_batches(summarize)
    return blocks.repartition(1).map_partitions(combine)


def read_report(path: str) -> dict[str, str]:
    """The ``name -> value`` lines teravalidate wrote to `path`."""
    out: dict[str, Any] = {}
    with open(os.path.join(path, "part-00000"), encoding="utf-8") as f:
        for line in f:
            name, _, value = line.rstrip("\n").partition("\t")
            out[name] = value
    return out
