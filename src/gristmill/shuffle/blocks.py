"""Columnar sort shuffle for blocks of fixed-width binary records (TeraSort's fast path).

Map side: blocks are copied into one preallocated buffer (its pages are touched only as it
fills) and each spill is sorted with numpy, then written as ordinary run frames holding block
slices with their first and last keys, so range selection works as for any sorted run. Reduce
side: a partition that fits in half the budget is gathered and sorted at once (a stable sort of
concatenated sorted runs is near-linear); a larger one, as skew makes, is merged in windows
bounded by one frame per run. Ties keep run order, then input order. Must not import runtime.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from gristmill.io.binary import is_block, to_block
from gristmill.plan.functions import PrefixKey
from gristmill.plan.logical import ShuffleKind, ShuffleSpec
from gristmill.shuffle import spare
from gristmill.shuffle.order import Family
from gristmill.shuffle.runfile import (
    HAS_PREADV,
    FrameInfo,
    ReadTally,
    RunInfo,
    RunWriter,
    read_frames,
    read_index,
    read_rows_into,
)
from gristmill.shuffle.writer import FRAME_BYTES, KeySampler, MapOutput, ShuffleWriter

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from gristmill.io.binary import Block

IN_MEMORY_SHARE = 0.5  # of the budget: a reduce partition up to this size is sorted at once
OUT_BYTES = 4 << 20  # output blocks handed to the sink
FRAMES_PER_SLICE = 8  # frames a reducer's key range spans in each run, on average
MIN_FRAME_BYTES = 32 * 1024  # below this, per-frame costs (header, index entry, a read) dominate
INDEX_CACHE_RUNS = 512  # run indexes a worker keeps: every reducer of a sort reads all runs'


def _load_radix() -> Callable[[Any, int], None] | None:
    try:
        from gristmill.shuffle._radix import sort_high_bits
    except ImportError:  # installed without a C compiler: numpy sorts
        return None
    return sort_high_bits


sort_high_bits = _load_radix()


def block_sortable(spec: ShuffleSpec) -> bool:
    """Whether a sort can run columnar: ascending by a byte prefix of the record."""
    return spec.kind is ShuffleKind.SORT and spec.ascending and isinstance(spec.sort_key, PrefixKey)


def _word(rows: Block, start: int, end: int) -> npt.NDArray[np.uint64]:
    """Bytes ``[start, end)`` of each row as a big-endian integer, zero-padded to 8 bytes."""
    import numpy as np

    buf = np.zeros((len(rows), 8), dtype=np.uint8)
    buf[:, : end - start] = rows[:, start:end]
    return buf.view(">u8").ravel().astype(np.uint64)


def key_order(rows: Block, key_size: int) -> npt.NDArray[np.intp]:
    """The stable order of `rows` by their first `key_size` bytes (byte-wise, as memcmp).

    For rows in no particular order (a map task's spill). Each row's first 8 key bytes and
    its index are packed into one integer and the integers sorted as values, by a radix sort
    (`_radix.c`) or, without the C extension, numpy's sort. For a map task's 480k rows this
    takes 10 ms, or 29 ms with numpy's sort, against 47 ms for numpy's stable argsort. The
    index breaks ties in input order. Rows whose packed key bits tie are then re-sorted
    among themselves by their whole key; keys that tie often (few distinct prefixes) go to
    the stable argsort directly.

    >>> import numpy as np
    >>> rows = np.frombuffer(b"b1a2b0a1", dtype=np.uint8).reshape(4, 2)
    >>> key_order(rows, 1).tolist()
    [1, 3, 0, 2]
    """
    import numpy as np

    first = _word(rows, 0, min(8, key_size))
    n = len(rows)
    bits = max(1, (n - 1).bit_length())  # for the row index, below the key bits
    if n < PACKED_MIN_ROWS or _ties_likely(first, bits):
        return _stable_order(rows, key_size, first)
    mask = np.uint64((1 << bits) - 1)
    packed = first  # in place from here: each array is n words, and a worker sorts millions
    packed &= ~mask
    packed |= np.arange(n, dtype=np.uint64)
    if sort_high_bits is not None:
        sort_high_bits(packed, bits)  # the index bits are ascending: a stable sort keeps them
    else:
        packed.sort()
    index_bits = packed & mask
    # Indexes read the same as signed: view them as intp, no copy (but on a 32-bit build).
    order: npt.NDArray[np.intp] = (
        index_bits.view(np.intp) if np.intp(0).itemsize == 8 else index_bits.astype(np.intp)
    )
    del index_bits
    packed >>= np.uint64(bits)
    tied = packed[1:] == packed[:-1]  # tied[i]: sorted rows i and i+1 share the key bits
    del packed
    if not tied.any():
        return order  # distinct keys have one order, so it is the stable one
    in_tie = np.zeros(n, dtype=bool)
    in_tie[1:] |= tied
    in_tie[:-1] |= tied
    at = np.flatnonzero(in_tie)
    if len(at) > n // 8:
        del order
        return _stable_order(rows, key_size)  # `first` was packed in place: read again
    # Each group of tied rows is contiguous in `order`: sort its rows by group, then whole
    # key, then index (input order), and put them back in the group's places.
    group = np.cumsum(~np.concatenate(([False], tied))[at])
    index = order[at]
    tied_rows = rows[index]
    words = [_word(tied_rows, i, min(i + 8, key_size)) for i in range(0, key_size, 8)]
    order[at] = index[np.lexsort((index, *reversed(words), group))]
    return order


PACKED_MIN_ROWS = 4096  # below this the stable argsort is as fast
TIE_SAMPLE = 4096  # rows whose packed keys are checked for ties before sorting them all


def _ties_likely(first: npt.NDArray[np.uint64], bits: int) -> bool:
    """Whether a sample of the packed keys ties so often that the whole would tie in more
    than the share `key_order` re-sorts: keys of a few distinct prefixes. A few duplicate
    keys rarely show in a sample (both rows of a pair must be in it), and random 8-byte
    prefixes almost never tie."""
    import numpy as np

    step = max(1, len(first) // TIE_SAMPLE)
    sample = np.sort(first[::step] >> np.uint64(bits))
    return int((sample[1:] == sample[:-1]).sum()) * 16 > len(sample)


def runs_order(rows: Block, key_size: int) -> npt.NDArray[np.intp]:
    """`key_order` for rows that are sorted runs one after another (a reducer's input). The
    radix sort takes them as any rows, 2x faster than timsort merges them; without it, the stable
    argsort (timsort) merges such runs in near-linear time, where numpy's sort would not.

    >>> import numpy as np
    >>> rows = np.frombuffer(b"a1b2a0c1", dtype=np.uint8).reshape(4, 2)
    >>> runs_order(rows, 1).tolist()
    [0, 2, 1, 3]
    """
    if sort_high_bits is not None:
        return key_order(rows, key_size)
    return _stable_order(rows, key_size)


def _stable_order(
    rows: Block, key_size: int, first: npt.NDArray[np.uint64] | None = None
) -> npt.NDArray[np.intp]:
    """The stable argsort by the first 8 bytes (`first`, read from `rows` if not given);
    longer keys pay for a full lexsort only when those prefixes tie."""
    import numpy as np

    if first is None:
        first = _word(rows, 0, min(8, key_size))

    order = np.argsort(first, kind="stable")
    if key_size <= 8 or len(rows) < 2:
        return order
    ordered = first[order]
    if not (ordered[1:] == ordered[:-1]).any():
        return order
    rest = [_word(rows, i, min(i + 8, key_size)) for i in range(8, key_size, 8)]
    return np.lexsort((*reversed(rest), first))


def key_column(rows: Block, key_size: int) -> Any:
    """The keys of `rows` as a fixed-width bytes array, for searchsorted against bytes keys."""
    import numpy as np

    return np.ascontiguousarray(rows[:, :key_size]).view(f"S{key_size}").ravel()


class BlockSortWriter(ShuffleWriter):
    """Map side of a columnar sort: buffer, sort by key prefix, spill frames with key ranges."""

    def takes(self, batch: Any) -> bool:
        return is_block(batch)

    def __post_init__(self) -> None:
        key = self.output.spec.sort_key
        assert isinstance(key, PrefixKey)
        self.key_size = key.size
        self.record_size = 0
        self.filled = 0
        self.buffer: Block | None = None
        self.sampler = KeySampler(self.output.num_partitions, self.map_tasks)

    def write_batch(self, batch: Any) -> None:
        if not is_block(batch):
            batch = to_block(batch, self.record_size or len(batch[0]))
        if self.buffer is None:
            self.record_size = batch.shape[1]
            if self.key_size > self.record_size:
                raise ValueError(
                    f"sort key prefix of {self.key_size} bytes is longer than the "
                    f"{self.record_size}-byte records"
                )
            rows = max(1, self.limit // self.record_size)
            self.buffer = spare.borrow(rows, self.record_size)
        elif batch.shape[1] != self.record_size:
            raise ValueError(
                f"records of {batch.shape[1]} bytes mixed with {self.record_size}-byte records"
            )
        self.stats.records += len(batch)
        picked = batch[self.sampler.picks(len(batch)), : self.key_size].tobytes()
        k = self.key_size
        self.sampler.extend([picked[i : i + k] for i in range(0, len(picked), k)], len(batch))
        pos = 0
        while pos < len(batch):
            take = min(len(batch) - pos, len(self.buffer) - self.filled)
            self.buffer[self.filled : self.filled + take] = batch[pos : pos + take]
            self.filled += take
            pos += take
            if self.filled == len(self.buffer):
                self.spill()

    def _buffered(self) -> int:
        return self.filled * self.record_size

    def _run_writer(self, path: str) -> RunWriter:
        return RunWriter(
            path,
            record_size=self.record_size,
            key_size=self.key_size,
            compress=self.compress_blocks,
        )

    def _flush(self, writer: RunWriter) -> Family:
        import numpy as np

        assert self.buffer is not None
        rows = self.buffer[: self.filled]
        order = key_order(rows, self.key_size)
        step = frame_rows(len(rows), self.record_size, self.output.num_partitions)
        k = self.key_size
        for start in range(0, len(rows), step):
            frame = np.take(rows, order[start : start + step], axis=0)
            writer.write_frame(0, frame, keys=(frame[0, :k].tobytes(), frame[-1, :k].tobytes()))
        self.filled = 0
        return "bytes"  # sorted by their key bytes: natural order

    def _samples(self) -> tuple[Any, ...]:
        return tuple(self.sampler.sample)

    def close(self) -> MapOutput:
        out = super().close()
        self._release()
        return out

    def abort(self) -> None:
        self._release()
        super().abort()

    def _release(self) -> None:
        if self.buffer is not None:  # every frame is a copy: nothing points into it now
            spare.give_back(self.buffer)
            self.buffer = None


def frame_rows(rows: int, record_size: int, partitions: int) -> int:
    """Rows per frame of a sorted run of `rows` records that `partitions` reducers split.

    A reducer reads whole frames, so it reads on average one frame more than its slice of each
    run. Partitions grow with the input (one per map task at least), so fixed frames would
    make every reducer read twice its data at 10GB; frames of an eighth of a slice keep that
    overhead near 1/8 at any size.

    >>> frame_rows(500_000, 100, 22), frame_rows(500_000, 100, 215)
    (2621, 327)
    """
    largest = max(1, FRAME_BYTES // record_size)
    smallest = min(largest, max(1, MIN_FRAME_BYTES // record_size))
    return max(smallest, min(largest, rows // max(1, partitions * FRAMES_PER_SLICE)))


def key_range(bounds: tuple[Any, ...], partition: int) -> tuple[Any, Any]:
    """Range partition `partition`'s keys: ``[lo, hi)``, None where it is open-ended."""
    lo = bounds[partition - 1] if partition > 0 else None
    hi = bounds[partition] if partition < len(bounds) else None
    return lo, hi


def read_block_partition(
    runs: tuple[RunInfo, ...],
    bounds: tuple[Any, ...],
    partition: int,
    memory: int,
    tally: ReadTally | None = None,
) -> Iterator[Block]:
    """Sorted blocks of range partition `partition` (keys in ``[bounds[p-1], bounds[p])``);
    `tally` counts the frame bytes read."""
    layouts = {(run.record_size, run.key_size) for run in runs}
    if len(layouts) != 1 or 0 in next(iter(layouts)):
        raise ValueError(
            "cannot merge binary record blocks with other records (or other record sizes) in "
            "one sort; map the inputs to one form first"
        )
    record_size, key_size = layouts.pop()
    lo, hi = key_range(bounds, partition)
    chosen = [(run, overlapping(run.path, key_size, lo, hi)) for run in runs]
    rows = sum(f.count for _, frames in chosen for f in frames)
    if rows * record_size <= memory * IN_MEMORY_SHARE:
        return _sort_at_once(
            chosen, rows, (lo, hi), tally=tally, record_size=record_size, key_size=key_size
        )
    streams = [_trimmed(run, frames, lo, hi, tally=tally) for run, frames in chosen if frames]
    spare.drop()  # a partition too big to gather needs the memory a spare would hold
    return _merge_windows(streams, key_size)


class _KeyIndex(NamedTuple):
    """A sorted block run's frame index, compact: positions as arrays, keys as one blob each."""

    frames: npt.NDArray[np.int64]  # offset, length, count per frame
    first: bytes  # the frames' first keys, `key_size` bytes each
    last: bytes


def forget_run_indexes() -> None:
    """Drop the cached run indexes; the driver calls this when a job ends (its runs are gone)."""
    _key_index.cache_clear()


@functools.lru_cache(maxsize=INDEX_CACHE_RUNS)
def _key_index(path: str, size: int, mtime_ns: int, key_size: int) -> _KeyIndex:
    import numpy as np

    frames = read_index(path)  # (size, mtime_ns) key the cache: a rewritten path is read again
    table = np.array([(f.offset, f.length, f.count) for f in frames], dtype=np.int64)
    first = b"".join(f.first_key for f in frames)
    last = b"".join(f.last_key for f in frames)
    if len(first) != len(frames) * key_size or len(last) != len(first):
        raise ValueError(f"{path}: frame keys are not {key_size}-byte prefixes")
    return _KeyIndex(table.reshape(-1, 3), first, last)


def overlapping(path: str, key_size: int, lo: Any, hi: Any) -> list[FrameInfo]:
    """The frames of sorted run `path` holding keys in ``[lo, hi)``, found by binary search:
    each reducer of a sort reads every run, so a scan of every frame grows with the square of
    the input. Fixed-width keys compare as memcmp in numpy's ``S`` arrays."""
    import numpy as np

    stat = os.stat(path)
    index = _key_index(path, stat.st_size, stat.st_mtime_ns, key_size)
    kind = f"S{key_size}"
    start, end = 0, len(index.frames)
    if lo is not None:  # the first frame whose last key reaches lo
        start = int(np.searchsorted(np.frombuffer(index.last, dtype=kind), lo, "left"))
    if hi is not None:  # past the last frame whose first key is below hi
        end = int(np.searchsorted(np.frombuffer(index.first, dtype=kind), hi, "left"))
    k = key_size
    first, last = index.first, index.last
    return [  # tolist: one C call for the Python ints (a 10GB sort builds 400k of these)
        FrameInfo(0, offset, length, count, first[i * k : i * k + k], last[i * k : i * k + k])
        for i, (offset, length, count) in enumerate(index.frames[start:end].tolist(), start)
    ]


def _trimmed(
    run: RunInfo, frames: list[FrameInfo], lo: Any, hi: Any, *, tally: ReadTally | None
) -> Iterator[Block]:
    """The frames' rows with keys in ``[lo, hi)`` (frames are sorted, so this is a slice)."""
    rows_of = read_frames(
        run.path, frames, tally, record_size=run.record_size, compressed=run.packed
    )
    for frame, rows in zip(frames, rows_of, strict=True):
        start, end = _in_range(rows, frame, lo, hi, run.key_size)
        if start < end:
            yield rows[start:end]


def _in_range(rows: Block, frame: FrameInfo, lo: Any, hi: Any, key_size: int) -> tuple[int, int]:
    """Where the keys in ``[lo, hi)`` start and end among the sorted `rows` of `frame`; its
    first and last keys spare the search where the frame lies inside a bound."""
    import numpy as np

    start, end = 0, len(rows)
    below = lo is not None and frame.first_key < lo
    above = hi is not None and frame.last_key >= hi
    if below or above:
        keys = key_column(rows, key_size)
        if below:
            start = int(np.searchsorted(keys, lo, "left"))
        if above:
            end = int(np.searchsorted(keys, hi, "left"))
    return start, end


def _sort_at_once(
    chosen: list[tuple[RunInfo, list[FrameInfo]]],
    rows: int,
    bounds: tuple[Any, Any],
    *,
    tally: ReadTally | None,
    record_size: int,
    key_size: int,
) -> Iterator[Block]:
    """The partition's rows in `chosen` (at most `rows`), gathered into one buffer in run
    order and sorted; the stable sort of concatenated sorted runs is near-linear."""
    import numpy as np

    gathered = spare.borrow(rows, record_size)
    filled = 0
    for run, frames in chosen:
        if frames:
            filled += _gather_run(run, frames, bounds, gathered[filled:], tally)
    data = gathered[:filled]
    order = runs_order(data, key_size)
    step = max(1, OUT_BYTES // record_size)
    for start in range(0, filled, step):
        yield np.take(data, order[start : start + step], axis=0)
    del data
    spare.give_back(gathered)  # the blocks handed out are copies


def _gather_run(
    run: RunInfo,
    frames: list[FrameInfo],
    bounds: tuple[Any, Any],
    out: Block,
    tally: ReadTally | None,
) -> int:
    """Put the rows of `frames` with keys in ``[lo, hi)`` at the start of `out`; their count.

    Frames are read straight into `out` (`read_rows_into`) but for a first frame that starts
    below `lo`, which is read into a scratch block and trimmed; a last frame reaching `hi` is
    read whole and its rows from `hi` on left out (they lie at the end). The run is opened
    once: a reducer of a 10GB sort reads 215 runs, a few frames of each."""
    import numpy as np

    lo, hi = bounds
    filled = 0
    if run.packed or not HAS_PREADV:
        for block in _trimmed(run, frames, lo, hi, tally=tally):
            out[filled : filled + len(block)] = block
            filled += len(block)
        return filled
    size, key_size = run.record_size, run.key_size
    fd = os.open(run.path, os.O_RDONLY)
    try:
        if lo is not None and frames[0].first_key < lo:
            head = np.empty((frames[0].count, size), dtype=np.uint8)
            read_rows_into(run.path, frames[:1], head, size, tally, fd=fd)
            start, end = _in_range(head, frames[0], lo, hi, key_size)
            filled = max(0, end - start)
            out[:filled] = head[start : start + filled]
            frames = frames[1:]
            if not frames:
                return filled
        got = read_rows_into(run.path, frames, out[filled:].reshape(-1), size, tally, fd=fd)
    finally:
        os.close(fd)
    got //= size
    last = frames[-1]  # only the last frame can reach `hi`; none left reaches below `lo`
    _, end = _in_range(out[filled + got - last.count : filled + got], last, None, hi, key_size)
    return filled + got - last.count + end


def _merge_windows(streams: list[Iterator[Block]], key_size: int) -> Iterator[Block]:
    """K-way merge in windows: each round emits the keys up to the smallest head's last key."""
    import numpy as np

    heads: list[tuple[Block, Iterator[Block]]] = []
    for stream in streams:
        first = next(stream, None)
        if first is not None:
            heads.append((first, stream))
    while heads:
        bound = min(rows[-1, :key_size].tobytes() for rows, _ in heads)
        parts = []
        still: list[tuple[Block, Iterator[Block]]] = []
        open_run = False  # an earlier run may hold more `bound` keys in its next frame
        for rows, stream in heads:
            keys = key_column(rows, key_size)
            # Keys equal to `bound` wait while an earlier run may have more of them, so ties
            # come out in run order exactly as the one-pass sort orders them.
            cut = int(np.searchsorted(keys, bound, "left" if open_run else "right"))
            open_run = open_run or cut == len(rows)
            parts.append(rows[:cut])
            rest: Block | None = rows[cut:]
            if rest is not None and not len(rest):
                rest = next(stream, None)
            if rest is not None:
                still.append((rest, stream))
        heads = still
        window = np.concatenate(parts)
        yield np.take(window, runs_order(window, key_size), axis=0)
