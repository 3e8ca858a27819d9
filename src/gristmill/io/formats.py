"""Record readers: a file split becomes batches of records (text lines, JSON values; CSV dicts
in `csv_rows`, binary records in `binary`, pyarrow tables in `arrow_readers`).

Reading is chunked: 64KB of bytes is decoded and split in C, then handed on as one batch (small
enough that its records stay in the CPU cache), so no Python call runs per line until user code
does. Each batch remembers where it came from, so a bad record is reported by file, line and
byte offset. Must not import `runtime` or `api`.
"""

from __future__ import annotations

import bz2
import gzip
import itertools
import json
import json.scanner
import operator
import os
import re
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from gristmill.errors import InputFormatError
from gristmill.io.fs import is_url, open_binary
from gristmill.io.splits import FileSplit
from gristmill.plan.logical import Format

# Bytes of input per record batch. Small, so a batch's Python objects stay in the CPU's
# cache from decoding through the user's functions to the combine: CSV rows as dicts read
# 2.5x faster in 64KB batches than in 1MB ones (the records ETL 28%), text lines as fast.
CHUNK = 64 << 10
MIN_CHUNK = 16 << 10
# Columnar blocks (pyarrow tables, numpy records) cost about their bytes and are worked on
# by C++ loops, so they are larger: per-block costs amortise.
BLOCK, MIN_BLOCK = 4 << 20, 256 << 10
LARGE_BUDGET = 256 * 1024**2  # from here, pyarrow blocks take their full size
CSV_BLOCK_MAX = 32 << 20  # pyarrow CSV blocks at large budgets (1/16 of the budget up to this)


def chunk_for(memory: int) -> int:
    """Bytes decoded per record batch under a worker budget of `memory`.

    A batch of text costs 20-30x its bytes as Python objects (lines, then words), so the chunk
    is 1/128 of the budget, between 16KB and 64KB (`CHUNK`: larger batches fall out of cache).

    >>> chunk_for(512 * 1024**2) == CHUNK, chunk_for(4 * 1024**2) // 1024
    (True, 32)
    """
    return max(MIN_CHUNK, min(CHUNK, memory // 128))


def block_for(memory: int, *, table: bool = False) -> int:
    """Bytes per columnar block under a worker budget of `memory`: 1/32 of it, 256KB to 4MB.

    A pyarrow `table` block of text briefly takes several times its bytes (its words), so
    below a 256MB budget it is 1/128 of the budget, 64KB to 1MB.

    >>> block_for(512 * 1024**2) // 1024**2, block_for(32 * 1024**2) // 1024
    (4, 1024)
    >>> block_for(32 * 1024**2, table=True) // 1024
    256
    """
    if table and memory < LARGE_BUDGET:
        return max(64 << 10, min(1 << 20, memory // 128))
    return max(MIN_BLOCK, min(BLOCK, memory // 32))


OnBad = Callable[[str, str], None]  # (location, error) of a record skipped in skip mode


@dataclass
class Origin:
    """Where a batch's records came from: enough to name any record's line and byte offset."""

    path: str
    offset: int  # byte offset of the first record (in the decompressed stream if compressed)
    line: int | None  # 1-based line number of the first record, when the split starts the file
    raw: bytes | memoryview = b""  # the batch's bytes, kept for per-record offsets on error
    indices: list[int] | None = None  # record -> line index, when lines were skipped
    record_size: int = 0  # fixed-width binary records: offsets are computed, not scanned
    rows: bool = False  # Parquet: `offset` is the first record's row number in the file
    _newlines: list[int] | None = field(default=None, repr=False, compare=False)

    def keep(self, kept: list[int], count: int) -> None:
        """Records `kept` (indices into the current records) remain of `count`."""
        if len(kept) == count:
            return
        self.indices = kept if self.indices is None else [self.indices[i] for i in kept]

    def locate(self, index: int) -> str:
        """Human-readable position of the `index`-th record of this batch."""
        if self.indices is not None:
            index = self.indices[index]
        if self.rows:
            return f"{self.path}, row {self.offset + index}"
        if self.record_size:
            offset = self.offset + index * self.record_size
            return f"{self.path}, record {offset // self.record_size} (byte offset {offset})"
        if not isinstance(self.raw, bytes):  # a mapped block: copied once, on the error path
            self.raw = bytes(self.raw)
        raw = self.raw
        if self._newlines is None:  # found once: a batch with many bad records stays linear
            self._newlines = [m.start() for m in re.finditer(b"\n", raw)]
        newlines = self._newlines
        start = newlines[min(index, len(newlines)) - 1] + 1 if index and newlines else 0
        where = f"{self.path}, byte offset {self.offset + start}"
        if self.line is not None:
            where = f"{self.path}, line {self.line + index} (byte offset {self.offset + start})"
        excerpt = raw[start : start + 80].split(b"\n", 1)[0]
        return f"{where}: {excerpt.decode('utf-8', 'replace')!r}"


@dataclass
class Batch:
    """Records plus their origin (None for shuffle and in-memory input).

    `records` is a list, or for binary input a block: a numpy array of shape (n, record_size).
    """

    records: Any
    origin: Origin | None = None


def check_unchanged(split: FileSplit) -> None:
    """Fail if the file differs from what the plan saw: a job never mixes two versions."""
    if is_url(split.path):
        return  # object stores: size checks come with their own fingerprints (etags)
    try:
        st = os.stat(split.path)
    except FileNotFoundError:
        raise InputFormatError(f"input changed: {split.path} was removed after planning") from None
    if st.st_size != split.file_size or st.st_mtime != split.mtime:
        raise InputFormatError(
            f"input changed: {split.path} (size {split.file_size} -> {st.st_size}, "
            f"mtime {split.mtime} -> {st.st_mtime}) since the job was planned"
        )


def open_split(split: FileSplit) -> IO[bytes]:
    path = split.path
    check_unchanged(split)
    raw = open_binary(path)
    if path.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if path.endswith(".bz2"):
        return bz2.BZ2File(raw, mode="rb")
    if path.endswith(".zst"):
        import pyarrow as pa

        return pa.CompressedInputStream(pa.PythonFile(raw, mode="r"), "zstd")  # type: ignore[no-any-return]
    return raw


def _line_blocks(split: FileSplit, chunk: int) -> Generator[tuple[int, bytes], None, None]:
    """Yield (offset, bytes) blocks of whole lines whose first byte lies in the split."""
    try:
        with open_split(split) as f:
            if split.compressed:
                yield from _compressed_blocks(f, chunk)
            else:
                pos = _align(f, split.start)
                yield from _ranged_blocks(f, pos, split.end, chunk)
    except READ_ERRORS as exc:
        raise _read_error(split, exc) from exc


READ_ERRORS = (EOFError, OSError, zlib.error)  # what reading a (compressed) file can raise


def _read_error(split: FileSplit, exc: BaseException) -> InputFormatError:
    """The error naming `split`'s file for `exc`, one of `READ_ERRORS`."""
    if isinstance(exc, FileNotFoundError):
        return InputFormatError(f"{split.path}: input file disappeared ({exc})")
    return CorruptFileError(f"{split.path}: corrupt or truncated input: {_reason(exc)}")


def _reason(exc: BaseException) -> str:
    """`exc`'s message, or its type where it has none (some codecs raise bare errors).

    >>> _reason(EOFError()), _reason(OSError("bad magic"))
    ('EOFError', 'bad magic')
    """
    return str(exc) or type(exc).__name__


class CorruptFileError(InputFormatError):
    """A compressed input file is truncated or corrupt."""


def verify_whole_file(split: FileSplit, fmt: Format | None = None) -> None:
    """Decompress (or, for Parquet, decode) the whole file once, so a corrupt one is found
    before any record is used.

    Compression formats check integrity only at the end of the stream; skip mode must not let
    the first half of a corrupt file into the output.
    """
    if fmt is Format.PARQUET:  # decoded by pyarrow, not made into Python dicts
        for _ in _read_parquet(split, as_records=False):
            pass
        return
    try:
        with open_split(split) as f:
            while f.read(1 << 20):  # nothing is kept: large reads
                pass
    except READ_ERRORS as exc:
        raise CorruptFileError(f"{split.path}: corrupt or truncated input: {_reason(exc)}") from exc


def _ranged_blocks(f: IO[bytes], pos: int, end: int, chunk: int) -> Iterator[tuple[int, bytes]]:
    """Blocks of whole lines from `pos` through the line holding byte end-1.

    Each block is one read finished by `readline`, so a block is copied once after the read
    (not carried over and sliced again, which cost a tenth of a CSV job's time).
    """
    while pos < end:
        data = f.read(min(chunk, end - pos))
        if not data:
            return
        if data[-1:] != b"\n":
            data += f.readline()  # our last line runs on past the read (or past `end`)
        yield pos, data
        pos += len(data)


def _compressed_blocks(f: IO[bytes], chunk: int) -> Iterator[tuple[int, bytes]]:
    """Blocks of whole lines of a decompressed stream: each read up to its last newline, with
    what came before it. Reads that hold no newline are kept as pieces and joined once, so a
    long line costs its length, not its length squared over the chunk size."""
    pos = 0
    pending: list[bytes] = []
    while data := f.read(chunk):
        nl = data.rfind(b"\n") + 1
        if not nl:
            pending.append(data)
            continue
        pending.append(data[:nl])
        block = b"".join(pending)
        yield pos, block
        pos += len(block)
        pending = [data[nl:]] if nl < len(data) else []
    if pending:
        yield pos, b"".join(pending)


def _align(f: IO[bytes], start: int) -> int:
    """Seek to the first line starting at or after `start` (the previous split owns the rest)."""
    if start == 0:
        return 0
    f.seek(start - 1)
    skipped = 0
    while True:
        data = f.read(64 * 1024)
        if not data:
            return start - 1 + skipped
        nl = data.find(b"\n")
        if nl >= 0:
            pos = start - 1 + skipped + nl + 1
            f.seek(pos)
            return pos
        skipped += len(data)


def _decode(
    split: FileSplit, offset: int, block: bytes, line: int | None, on_bad: OnBad | None
) -> tuple[list[str], list[int] | None]:
    """Lines of `block`, and which raw lines they are when undecodable ones were skipped."""
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError as exc:
        origin = Origin(split.path, offset, line, block)
        if on_bad is None:
            index = block.count(b"\n", 0, exc.start)
            raise InputFormatError(f"invalid UTF-8 at {origin.locate(index)}") from None
        return _decode_lines(block, origin, on_bad)
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    if "\r" in text:
        lines = [ln[:-1] if ln.endswith("\r") else ln for ln in lines]
    return lines, None


def _decode_lines(block: bytes, origin: Origin, on_bad: OnBad) -> tuple[list[str], list[int]]:
    raw = block.split(b"\n")
    if raw[-1] == b"":
        raw.pop()
    lines, kept = [], []
    for i, chunk in enumerate(raw):
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError:
            on_bad(origin.locate(i), "invalid UTF-8")
            continue
        lines.append(text[:-1] if text.endswith("\r") else text)
        kept.append(i)
    return lines, kept


def read_text(split: FileSplit, on_bad: OnBad | None = None, chunk: int = CHUNK) -> Iterator[Batch]:
    """Lines of `split` without their line endings (``\\n`` or ``\\r\\n``)."""
    line: int | None = 1 if split.start == 0 else None
    for offset, block in _line_blocks(split, chunk):
        lines, kept = _decode(split, offset, block, line, on_bad)
        yield Batch(lines, Origin(split.path, offset, line, block, kept))
        if line is not None:
            line = _next_line(line, lines, kept, block)


def _next_line(line: int, lines: list[str], kept: list[int] | None, block: bytes) -> int:
    """The line number after a block that started at `line`."""
    return line + (len(lines) if kept is None else block.count(b"\n") + (block[-1:] != b"\n"))


def read_jsonl(
    split: FileSplit, on_bad: OnBad | None = None, chunk: int = CHUNK
) -> Iterator[Batch]:
    """One JSON value per non-blank line."""
    scan = True
    for batch in read_text(split, on_bad, chunk):
        lines = batch.records
        origin = batch.origin
        assert origin is not None
        whole = _scan_lines(lines) if scan else None
        if whole is not None:
            yield Batch(whole, origin)
            continue
        # A file with padded or blank lines would be parsed twice per batch: from here on,
        # only the careful path (it is the old speed, never slower).
        scan = False
        try:
            values = [json.loads(ln) for ln in lines if ln.strip(JSON_SPACE)]
            kept = [i for i, ln in enumerate(lines) if ln.strip(JSON_SPACE)]
        except json.JSONDecodeError:
            values, kept = [], []
            for i, ln in enumerate(lines):
                if not ln.strip(JSON_SPACE):
                    continue
                try:
                    values.append(json.loads(ln))
                    kept.append(i)
                except json.JSONDecodeError as exc:
                    where = f"malformed JSON ({exc.msg}) at {origin.locate(i)}"
                    if on_bad is None:
                        raise InputFormatError(where) from None
                    on_bad(origin.locate(i), f"malformed JSON ({exc.msg})")
        origin.keep(kept, len(lines))
        yield Batch(values, origin)


# Only JSON's whitespace makes a line blank: a line of other Unicode whitespace (NBSP,
# U+001C) is no JSON value, so it is a bad line, as json.loads says.
JSON_SPACE = " \t\r\n"

# json's own C scanner, called with no Python frame per line (json.loads costs four).
_C_SCANNER: Any = getattr(json.scanner, "c_make_scanner", None)  # None without the C module
_SCAN = _C_SCANNER(json.JSONDecoder()) if _C_SCANNER is not None else None


def _scan_lines(lines: list[str]) -> list[Any] | None:
    """The values of `lines` if each is exactly one JSON value (no blank, padded or bad line:
    those take the careful path, which skips or names them); 30% faster than json.loads.

    >>> _scan_lines(['{"a": 1}', "[2]"]), _scan_lines(['{"a": 1}', " 2"]), _scan_lines(["1 2"])
    ([{'a': 1}, [2]], None, None)
    """
    if _SCAN is None:
        return None
    try:
        # A line where no value starts raises StopIteration, which ends the map early: the
        # end positions then no longer match the lines, so the batch takes the careful path.
        scanned = list(map(_SCAN, lines, itertools.repeat(0)))
    except ValueError:
        return None
    if list(map(operator.itemgetter(1), scanned)) != list(map(len, lines)):
        return None
    return list(map(operator.itemgetter(0), scanned))


def _read_parquet(split: FileSplit, *, as_records: bool = True) -> Iterator[Batch]:
    import pyarrow as pa

    from gristmill.io.parquet import read_rows

    check_unchanged(split)
    good = 0  # rows read whole so far
    try:
        for row, records in read_rows(split, as_records=as_records):
            yield Batch(records, Origin(split.path, row, None, rows=True))
            good = row + len(records)
    except FileNotFoundError as exc:
        raise _read_error(split, exc) from exc
    except (*READ_ERRORS, pa.ArrowException) as exc:  # pyarrow names neither file nor row
        raise CorruptFileError(
            f"{split.path}: not Parquet, or corrupt after row {good}: {_reason(exc)}"
        ) from exc


def _read_frames(split: FileSplit) -> Iterator[Batch]:
    """A cached partition: the record frames of one run file, checksums verified."""
    from gristmill.shuffle.runfile import read_frames, read_index

    check_unchanged(split)
    row = 0
    for records in read_frames(split.path, read_index(split.path)):
        yield Batch(records, Origin(split.path, row, None, rows=True))
        row += len(records)


def read_split(
    split: FileSplit,
    fmt: Format,
    csv_options: dict[str, Any],
    on_bad: OnBad | None = None,
    *,
    record_size: int = 0,
    memory: int = 512 * 1024**2,
    previous: FileSplit | None = None,
) -> Iterator[Batch]:
    """Batches of records of one split in the given format, sized for a `memory` budget.

    With `on_bad`, undecodable records are reported to it and skipped instead of failing. The
    option ``batch_format="pyarrow"`` (text and CSV) gives ``pyarrow.Table`` batches.
    `previous` is the split before `split` in the task list (CSV rows check it on error).
    """
    chunk = chunk_for(memory)
    csv_options = dict(csv_options)
    columns = csv_options.pop("columns", None)
    types = csv_options.pop("types", ())
    csv_options.pop("multiline", None)  # the planner made each such file one split
    if csv_options.pop("batch_format", "default") == "pyarrow":
        from gristmill.io.arrow_readers import read_csv_table, read_text_table

        blocks = block_for(memory, table=True)
        if fmt is Format.TEXT:
            return read_text_table(split, on_bad, blocks)
        if fmt is Format.CSV:
            # Typed columns cost about their bytes, with no per-word lists as text has: larger
            # blocks, so per-block costs (a batch function's call, the partial results it
            # hands on) amortise. 32MB rather than 16MB: ETL 1GB 2.38-2.46 -> 2.30-2.33 s.
            large = memory >= LARGE_BUDGET
            csv_blocks = min(CSV_BLOCK_MAX, memory // 16) if large else blocks
            return read_csv_table(split, csv_options, on_bad, csv_blocks, columns, types=types)
    if fmt is Format.PARQUET:
        return _read_parquet(split)
    if fmt is Format.FRAMES:
        return _read_frames(split)
    if fmt is Format.BINARY:
        from gristmill.io.binary import read_records

        return read_records(split, record_size, block_for(memory))  # a block is its bytes
    if fmt is Format.TEXT:
        return read_text(split, on_bad, chunk)
    if fmt is Format.JSONL:
        return read_jsonl(split, on_bad, chunk)
    from gristmill.io.csv_rows import read_csv

    return read_csv(split, csv_options, on_bad, chunk, columns, previous=previous)
