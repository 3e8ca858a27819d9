"""Run files: the on-disk format of shuffle data and spills.

A run is a sequence of frames, then a pickled index and a trailer. A frame is one batch of
records, pickled, lz4-compressed, with a checksum of the compressed bytes that is checked
before anything is unpickled, so a corrupt block is detected and never consumed. The checksum
is XXH3-64 (as RocksDB's block checksums): zlib's CRC32 ran at 2.6 GB/s here, a fifth of a
1GB sort's CPU for a checksum of every byte written and read; XXH3 runs at 12 GB/s. The index lists
each frame's partition, position, record count and (for sorted runs) first and last key, so a
reducer reads only its own frames.

A block run (`record_size` > 0, the columnar sort's) stores each frame's rows as they are:
no pickle, no compression (unless `Config.compress_sort_runs`), still checksummed, read back
as a numpy view of the bytes read.
Compressing them took a quarter of a sort's CPU (lz4 at ~700MB/s a core, plus pickle's copy
each way) to save page-cache writes that cost less: a 1GB sort 2.8 -> 2.2 s, 10GB 42.8 ->
40.4 s here. Hadoop leaves map output uncompressed by default for the same reason; pickled
frames keep lz4, which costs them nothing measurable (a 200MB high-cardinality job: equal).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import pickle
import struct
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any

import lz4.block
import xxhash

from gristmill.errors import GristmillError
from gristmill.faults import disk_full
from gristmill.io.columnar import is_table
from gristmill.io.fs import space_checked
from gristmill.shuffle.order import TOTAL

_HEADER = struct.Struct("<IIQ")  # compressed length, raw length, XXH3-64 of the compressed bytes
_TRAILER = struct.Struct("<Q8s")  # index offset, magic
# 003: XXH3-64 frame checksums (002: CRC32; block frames hold their rows as they are)
_MAGIC = b"GMRUN003"
_checksum = xxhash.xxh3_64_intdigest
# Small frames (sorted runs cut them to an eighth of a reducer's slice) would cost a syscall
# each, and under dirty-page pressure every write is throttled on its own: frames are written
# in batches of up to 1MB with one `writev`, from where they lie (a buffered file copied every
# frame into its buffer first: 6% of a 1GB sort's user CPU). Adjacent frames are read in spans
# of up to 256KB, the largest frame, so a k-way merge holding one span per run needs no more
# memory than with one frame per run.
WRITE_BUFFER = 1 << 20
READ_SPAN = 256 * 1024
MAX_PIECES = 512  # buffers per writev or preadv, below every platform's IOV_MAX (1024 on Linux)
HAS_PREADV = hasattr(os, "preadv")  # else block frames are read, then copied into place
HAS_WRITEV = hasattr(os, "writev")  # else one write per piece


class CorruptShuffleError(GristmillError):
    """A shuffle block failed its checksum or could not be decoded."""


@dataclass(frozen=True)
class FrameInfo:
    partition: int
    offset: int
    length: int
    count: int
    first_key: Any = None
    last_key: Any = None


@dataclass(frozen=True)
class RunInfo:
    """A finished run file and how it was sorted (needed to merge it with others)."""

    path: str
    family: Hashable  # how its keys are sorted (`shuffle.order`): TOTAL, or a natural family
    bytes: int
    records: int
    record_size: int = 0  # frames are blocks of fixed-width binary records (see shuffle.blocks)
    key_size: int = 0  # ... sorted by this many leading bytes
    packed: bool = False  # block frames lz4-compressed too (pickled frames always are)


@dataclass
class ReadTally:
    """Frame bytes read from run files, as stored: compressed, headers included, the unit of
    `RunInfo.bytes`. The index a reader consults to find its frames is metadata, not counted,
    as Hadoop and Spark count shuffle blocks fetched but not index reads. A sorted frame whose
    keys span two reduce ranges is read whole by both reducers, so both count it."""

    bytes: int = 0
    records: int = 0  # the frames' records, as written (a frame read whole counts whole)


class _Gather:
    """An append-only file that holds the buffers it is given and writes them `WRITE_BUFFER`
    bytes at a time with one `os.writev`, not copying them: a caller must not change a
    buffer after handing it over."""

    def __init__(self, path: str) -> None:
        self._file = open(path, "wb", buffering=0)  # noqa: SIM115 - closed in close()
        self._pending: list[Any] = []
        self._pending_bytes = 0
        self.position = 0  # bytes written and pending: where the next write lands

    def write(self, data: Any) -> None:
        self._pending.append(data)
        self._pending_bytes += len(data)
        self.position += len(data)

    @property
    def full(self) -> bool:
        """Whether enough is pending for one `writev`: the caller flushes then."""
        return self._pending_bytes >= WRITE_BUFFER or len(self._pending) >= MAX_PIECES

    def flush(self) -> None:
        pieces = [memoryview(p).cast("B") for p in self._pending]
        self._pending, self._pending_bytes = [], 0
        fd = self._file.fileno()
        first = 0
        while first < len(pieces):
            batch = pieces[first : first + MAX_PIECES]
            written = os.writev(fd, batch) if HAS_WRITEV else os.write(fd, batch[0])
            if not written:
                raise OSError(errno.EIO, f"{self._file.name}: nothing written")
            first = _past(pieces, first, written)

    def close(self) -> None:
        self._file.close()

    def discard(self) -> None:
        self._pending, self._pending_bytes = [], 0
        self._file.close()


class RunWriter:
    """Appends frames to a new run file; `close()` writes the index and returns `RunInfo`.

    A block frame's rows are written from where they lie, up to `WRITE_BUFFER` bytes later:
    they must not change after `write_frame` (the columnar sort hands over new arrays).
    """

    def __init__(
        self,
        path: str,
        *,
        keep_keys: bool = False,
        record_size: int = 0,
        key_size: int = 0,
        compress: bool = False,
    ) -> None:
        self.path = path
        self._keep_keys = keep_keys
        self._layout = (record_size, key_size)
        self._compress = compress or not record_size  # pickled frames always are
        self._file = _Gather(path)
        self._frames: list[FrameInfo] = []
        self._records = 0

    def write_frame(
        self, partition: int, records: Any, keys: tuple[Any, Any] | None = None
    ) -> None:
        """Append one frame; `keys` gives its first and last key when records are not pairs."""
        if not len(records):
            return
        raw: Any
        if self._layout[0]:  # a block of rows, C-contiguous: its bytes, without a copy
            _check_block(records, self._layout[0])
            raw = memoryview(records).cast("B")
        else:
            frame = _TableFrame(records) if is_table(records) else records
            raw = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)
        packed = lz4.block.compress(raw, store_size=False) if self._compress else raw
        offset = self._file.position
        self._file.write(_HEADER.pack(len(packed), len(raw), _checksum(packed)))
        self._file.write(packed)
        if self._file.full:
            self._flush()
        first = last = None
        if keys is not None:
            first, last = keys
        elif self._keep_keys:
            first, last = records[0][0], records[-1][0]
        length = _HEADER.size + len(packed)
        self._frames.append(FrameInfo(partition, offset, length, len(records), first, last))
        self._records += len(records)

    def _flush(self) -> None:
        # The disk is touched here, once per batch of frames: so are the checks.
        with space_checked(self.path, "scratch directory"):
            disk_full("scratch_full")
            self._file.flush()

    def close(self, *, family: Hashable = TOTAL) -> RunInfo:
        index_offset = self._file.position
        self._file.write(pickle.dumps(self._frames, protocol=pickle.HIGHEST_PROTOCOL))
        self._file.write(_TRAILER.pack(index_offset, _MAGIC))
        size = self._file.position
        try:
            self._flush()
        finally:
            self._file.close()
        packed = self._compress and self._layout[0] > 0  # as `RunInfo.packed` means it
        return RunInfo(self.path, family, size, self._records, *self._layout, packed=packed)

    def abort(self) -> None:
        """Remove the partial run: frames not yet written are dropped (on a full disk they
        cannot be), the file is closed and removed."""
        try:
            self._file.discard()
        except OSError:
            pass
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


def copy_frames(source: RunInfo, keep: list[FrameInfo], dest: str) -> RunInfo:
    """A new run file holding only `keep` frames of `source`, copied compressed and unchanged."""
    frames: list[FrameInfo] = []
    with open(source.path, "rb") as src, open(dest, "wb") as out:
        for frame in keep:
            src.seek(frame.offset)
            data = src.read(frame.length)
            frames.append(dataclasses.replace(frame, offset=out.tell()))
            out.write(data)
        index_offset = out.tell()
        out.write(pickle.dumps(frames, protocol=pickle.HIGHEST_PROTOCOL))
        out.write(_TRAILER.pack(index_offset, _MAGIC))
        size = out.tell()
    records = sum(f.count for f in frames)
    return dataclasses.replace(source, path=dest, bytes=size, records=records)


def read_index(path: str) -> list[FrameInfo]:
    """The frame index of a run file."""
    with open(path, "rb") as f:
        f.seek(-_TRAILER.size, os.SEEK_END)
        index_offset, magic = _TRAILER.unpack(f.read(_TRAILER.size))
        if magic != _MAGIC:
            if magic[:5] == _MAGIC[:5]:  # a replay bundle saved by another version
                raise CorruptShuffleError(
                    f"{path}: run file format {magic.decode(errors='replace')} is not this "
                    f"version's ({_MAGIC.decode()}); rerun the job to replay it"
                )
            raise CorruptShuffleError(f"{path}: not a gristmill run file (bad trailer)")
        end = f.seek(0, os.SEEK_END) - _TRAILER.size
        f.seek(index_offset)
        frames: list[FrameInfo] = pickle.loads(f.read(end - index_offset))
        return frames


def read_frames(
    path: str,
    frames: list[FrameInfo],
    tally: ReadTally | None = None,
    record_size: int = 0,
    *,
    compressed: bool = False,
) -> Iterator[Any]:
    """Yield the record batches of `frames`, checksum-verified, one frame in memory at a time;
    `tally` adds the bytes of each frame as it is read (a reader that stops early is not
    charged for frames it never read). A block run's frames (`record_size` > 0) come back as
    read-only numpy arrays of shape (rows, record_size); `compressed`: they are lz4 too."""
    with open(path, "rb") as f:  # buffered: read(n) loops until n bytes or the end
        for span in _spans(frames):
            start = span[0].offset
            f.seek(start)
            data = memoryview(f.read(span[-1].offset + span[-1].length - start))
            for frame in span:
                chunk = data[frame.offset - start : frame.offset - start + frame.length]
                if tally is not None:
                    tally.bytes += len(chunk)
                    tally.records += frame.count
                if len(chunk) != frame.length:
                    raise CorruptShuffleError(f"{path}@{frame.offset}: truncated shuffle block")
                packed_len, raw_len, digest = _HEADER.unpack_from(chunk)
                packed = chunk[_HEADER.size :]
                if len(packed) != packed_len or _checksum(packed) != digest:
                    raise CorruptShuffleError(
                        f"{path}@{frame.offset}: shuffle block checksum mismatch"
                    )
                if record_size:
                    rows = _unpack(packed, raw_len, path, frame.offset) if compressed else packed
                    yield _rows(rows, raw_len, record_size, path, frame.offset)
                else:
                    yield pickle.loads(_unpack(packed, raw_len, path, frame.offset))


def read_rows_into(
    path: str,
    frames: list[FrameInfo],
    out: Any,
    record_size: int,
    tally: ReadTally | None = None,
    *,
    fd: int | None = None,
) -> int:
    """Read the rows of uncompressed block frames `frames` of run `path` one after another into
    `out` (a writable buffer), checksums verified there; returns the bytes filled. `fd`: the
    run, already open (a reducer reading it twice opens it once).

    Each span of adjacent frames is one `preadv`: headers land in a scratch buffer and rows
    where they belong, so the kernel's copy is the only one (`read_frames` then a copy into
    place moved every row twice). Needs `os.preadv` (`HAS_PREADV`).
    """
    if fd is None:
        with open(path, "rb", buffering=0) as f:
            return read_rows_into(path, frames, out, record_size, tally, fd=f.fileno())
    view = memoryview(out).cast("B")
    filled = 0
    for span in _spans(frames):
        heads = bytearray(_HEADER.size * len(span))
        pieces: list[Any] = []
        at = filled
        for i, frame in enumerate(span):
            size = frame.length - _HEADER.size
            if size < 0 or at + size > len(view) or size != frame.count * record_size:
                raise CorruptShuffleError(
                    f"{path}@{frame.offset}: not a block of {frame.count} {record_size}-byte rows"
                )
            pieces += [memoryview(heads)[i * _HEADER.size : (i + 1) * _HEADER.size]]
            pieces += [view[at : at + size]]
            at += size
        got = _preadv_all(fd, pieces, span[0].offset)
        for i, frame in enumerate(span):
            size = frame.length - _HEADER.size
            if got < frame.length:
                raise CorruptShuffleError(f"{path}@{frame.offset}: truncated shuffle block")
            got -= frame.length
            if tally is not None:
                tally.bytes += frame.length
                tally.records += frame.count
            packed_len, raw_len, digest = _HEADER.unpack_from(heads, i * _HEADER.size)
            rows = view[filled : filled + size]
            if packed_len != size or raw_len != size or _checksum(rows) != digest:
                raise CorruptShuffleError(f"{path}@{frame.offset}: shuffle block checksum mismatch")
            filled += size
    return filled


def _preadv_all(fd: int, pieces: list[Any], offset: int) -> int:
    """`os.preadv` until `pieces` are full or the file ends; the bytes read."""
    total = first = 0
    while first < len(pieces):
        got = os.preadv(fd, pieces[first : first + MAX_PIECES], offset + total)
        if not got:
            break
        total += got
        first = _past(pieces, first, got)
    return total


def _past(pieces: list[Any], first: int, done: int) -> int:
    """The first of `pieces` (from `first`) that a vectored call moving `done` bytes did not
    finish; a piece it finished in part is cut to its rest (a short read or write)."""
    while first < len(pieces) and done >= len(pieces[first]):
        done -= len(pieces[first])
        first += 1
    if done:
        pieces[first] = pieces[first][done:]
    return first


class _TableFrame:
    """A pyarrow table pickled as Arrow IPC: pickling a table slice writes its parent's
    whole buffers (pyarrow 26), IPC only the rows of the slice; unpickles as the table."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def __reduce__(self) -> tuple[Any, ...]:
        import pyarrow as pa

        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, self.table.schema) as writer:
            writer.write_table(self.table)
        return (_table_from_ipc, (sink.getvalue().to_pybytes(),))


def _table_from_ipc(data: bytes) -> Any:
    import pyarrow as pa

    return pa.ipc.open_stream(data).read_all()


def _check_block(records: Any, record_size: int) -> None:
    """A block run's frame must be a C-contiguous uint8 array of `record_size`-byte rows: its
    bytes are written as they lie, and read back by that layout."""
    shape: tuple[int, ...] = tuple(getattr(records, "shape", ()))
    flags = getattr(records, "flags", None)
    if (
        getattr(getattr(records, "dtype", None), "char", "") != "B"  # uint8 (str() is slow)
        or len(shape) != 2  # rows x bytes
        or shape[1] != record_size
        or flags is None
        or not flags.c_contiguous
    ):
        raise TypeError(
            f"a block run frame must be a C-contiguous uint8 array of {record_size}-byte rows, "
            f"got {type(records).__name__} {getattr(records, 'dtype', '')} {shape}"
        )


def _unpack(packed: Any, raw_len: int, path: str, offset: int) -> bytes:
    """lz4-decompress one frame; a header that lies about its size is corruption too."""
    try:
        return lz4.block.decompress(packed, uncompressed_size=raw_len)  # type: ignore[no-any-return]
    except lz4.block.LZ4BlockError as exc:
        raise CorruptShuffleError(
            f"{path}@{offset}: shuffle block does not decompress: {exc}"
        ) from None


def _rows(
    packed: memoryview | bytes, raw_len: int, record_size: int, path: str, offset: int
) -> Any:
    import numpy as np

    if raw_len != len(packed) or raw_len % record_size:
        raise CorruptShuffleError(f"{path}@{offset}: not a block of {record_size}-byte rows")
    return np.frombuffer(packed, dtype=np.uint8).reshape(-1, record_size)


def _spans(frames: list[FrameInfo]) -> Iterator[list[FrameInfo]]:
    """`frames` in runs of adjacent ones of up to `READ_SPAN` bytes, each read with one syscall."""
    span: list[FrameInfo] = []
    size = 0
    for frame in frames:
        adjacent = span and span[-1].offset + span[-1].length == frame.offset
        if span and (not adjacent or size + frame.length > READ_SPAN):
            yield span
            span, size = [], 0
        span.append(frame)
        size += frame.length
    if span:
        yield span
