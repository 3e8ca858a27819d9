"""Record readers: a file split becomes batches of records (text lines, JSON values, CSV dicts).

Reading is chunked: 64KB of bytes is decoded and split in C, then handed on as one batch (small
enough that its records stay in the CPU cache), so no Python call runs per line until user code
does. Each batch remembers where it came from, so a bad record is reported by file, line and
byte offset. Must not import `runtime` or `api`.
"""

from __future__ import annotations

import bz2
import collections
import contextlib
import csv
import functools
import gzip
import itertools
import json
import json.scanner
import operator
import os
import re
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
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


def verify_compressed(split: FileSplit, fmt: Format | None = None) -> None:
    """Decompress (or, for Parquet, decode) the whole file once, so a corrupt one is found
    before any record is used.

    Compression formats check integrity only at the end of the stream; skip mode must not let
    the first half of a corrupt file into the output.
    """
    if fmt is Format.PARQUET:
        for _ in _read_parquet(split):
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


def _csv_header(split: FileSplit, options: dict[str, Any]) -> list[str]:
    """The first record of the file, decoded line by line only as far as it goes (a quoted
    name may hold a newline; a bad line below it is the rows' business, not the header's).

    It is read in the same line blocks as the rows, so every compression reads it alike (a
    zstd stream has no `readline`)."""
    whole = FileSplit(split.path, 0, split.file_size, split.file_size, split.mtime)
    with contextlib.closing(_line_blocks(whole, HEADER_CHUNK)) as blocks:
        lines = (raw.decode("utf-8") for _, block in blocks for raw in _keepends(block))
        try:
            with _fields_unlimited():
                return next(csv.reader(lines, **options), [])
        except UnicodeDecodeError:
            raise InputFormatError(f"invalid UTF-8 in the header line of {split.path}") from None
        except csv.Error as exc:
            raise InputFormatError(f"malformed CSV header in {split.path}: {exc}") from None


HEADER_CHUNK = 4096  # a header is one short line, almost always


def _keepends(block: bytes) -> Iterator[bytes]:
    """The lines of `block` with their newlines, as `readline` returns them.

    >>> list(_keepends(b"a\\r\\nb\\rc\\nd"))
    [b'a\\r\\n', b'b\\rc\\n', b'd']
    """
    start = 0
    while (nl := block.find(b"\n", start) + 1) > 0:
        yield block[start:nl]
        start = nl
    if start < len(block):
        yield block[start:]


def csv_columns(split: FileSplit, header: list[str], columns: tuple[str, ...] | None) -> list[int]:
    """Positions of `columns` in the file's `header` (all of them when `columns` is None).

    A selected name the header holds twice is refused: dict rows keep the last such column
    (as `csv.DictReader`) and pyarrow the first, so neither choice would be safe to guess.
    """
    if columns is None:
        return list(range(len(header)))
    if not header:
        return []  # an empty file: no rows to project
    missing = [c for c in columns if c not in header]
    if missing:
        raise InputFormatError(
            f"{split.path}: no column {', '.join(map(repr, missing))} in its header {header}"
        )
    twice = [c for c in columns if header.count(c) > 1]
    if twice:
        raise InputFormatError(
            f"{split.path}: its header {header} names column {', '.join(map(repr, twice))} "
            "more than once, so columns= cannot tell which to keep"
        )
    return [header.index(c) for c in columns]


def read_csv(
    split: FileSplit,
    options: dict[str, Any],
    on_bad: OnBad | None = None,
    chunk: int = CHUNK,
    columns: tuple[str, ...] | None = None,
    *,
    previous: FileSplit | None = None,
) -> Iterator[Batch]:
    """Rows as dicts keyed by the file's header line (every split reads the header first);
    with `columns`, only those keys, in that order. `previous` is the split before this one,
    checked before a bad row is reported (see `_crossing_check`)."""
    header = _csv_header(split, options)
    crossing = _crossing_check(split, previous, options, chunk)
    width = len(header)
    keep = csv_columns(split, header, columns)
    names = [header[i] for i in keep]
    project = columns is not None
    skip_header = split.start == 0
    take = operator.itemgetter(*keep) if project and len(keep) > 1 else None
    for origin, count, rows, lines_of in _csv_blocks(split, options, on_bad, chunk):
        start = 1 if skip_header else 0
        skip_header = False
        body = rows[start:] if start else rows
        if width and all(map(width.__eq__, map(len, body))):
            # Every row whole (the usual case): dicts built by C iterators, no loop here.
            if lines_of is not None:
                origin.keep(lines_of[start:], count)
            elif start:
                origin.keep(list(range(start, count)), count)
            fields: Iterable[Sequence[str]]
            if not project:
                fields = body
            elif take is not None:
                fields = map(take, body)
            else:
                fields = ((row[keep[0]],) for row in body) if keep else (() for _ in body)
            yield Batch(list(map(dict, map(zip, itertools.repeat(names), fields))), origin)
            continue
        out = []
        kept = []
        for i in range(start, len(rows)):
            row = rows[i]
            line = i if lines_of is None else lines_of[i]
            if len(row) != width or type(row) is BadRow:
                if type(row) is list and not row:
                    continue  # a blank line
                crossing()
                error = _row_error(row, width)
                if on_bad is None:
                    raise InputFormatError(f"{error} at {origin.locate(line)}")
                on_bad(origin.locate(line), error)
                continue
            if project:
                out.append(dict(zip(names, [row[k] for k in keep], strict=True)))
            else:
                out.append(dict(zip(header, row, strict=True)))
            kept.append(line)
        origin.keep(kept, count)
        yield Batch(out, origin)


class SplitCrossingError(InputFormatError):
    """A quoted record runs on past the end of its split (the file needs ``multiline=True``)."""


def _crossing_check(
    split: FileSplit, previous: FileSplit | None, options: dict[str, Any], chunk: int
) -> Callable[[], None]:
    """What to run before `split` reports a bad row: raise the previous split's
    `SplitCrossingError` if its last record runs on into `split`.

    Then `split` starts inside that record, and its bad row is likely only the record's tail.
    The previous split's task fails with the crossing error whatever happens here; raising the
    same error here (that split's own parse, once, only on this error path) makes it the job's
    error whichever task fails first.
    """
    if (
        previous is None
        or (previous.path, previous.end) != (split.path, split.start)
        or _quote_char(options) is None
    ):
        return _nothing

    @functools.cache
    def check() -> None:
        collections.deque(_csv_blocks(previous, options, _nothing_bad, chunk), maxlen=0)

    return check


def _nothing() -> None:
    """No check to run."""


def _nothing_bad(_where: str, _error: str) -> None:
    """Undecodable lines of a previous split: its own task reports them."""


class BadRow(list[str]):
    """A row `csv` refused (a lone CR in an unquoted field, strict mode's errors): no fields,
    and the error, reported at its line as a row of the wrong width is."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


def _row_error(row: list[str], width: int) -> str:
    """What is wrong with `row`, which is a `BadRow` or not `width` fields long."""
    if isinstance(row, BadRow):
        return f"malformed CSV row: {row.error}"
    return f"malformed CSV row: expected {width} fields, got {len(row)}"


# csv's field size limit (128KB) is lifted while gristmill parses: pyarrow reads any length,
# and a block is in memory whole anyway. The limit is process-wide, so it is restored after
# each parse (the user's own code, in this process with the inline executor, keeps its own).
FIELD_LIMIT = 2**31 - 1


@contextlib.contextmanager
def _fields_unlimited() -> Iterator[None]:
    """csv's field size limit lifted (to `FIELD_LIMIT`) for the block, then put back."""
    old = csv.field_size_limit(FIELD_LIMIT)
    try:
        yield
    finally:
        csv.field_size_limit(old)


def _parse_lines(
    lines: list[str], options: dict[str, Any]
) -> tuple[list[list[str]], list[int] | None]:
    """`csv`'s rows of `lines` (start lines None: a row per line), or if `csv` refuses one,
    every row with the line it starts on, refused ones as `BadRow`s."""
    try:
        return list(csv.reader(lines, **options)), None
    except csv.Error:
        return _careful_rows(lines, options)


def _careful_rows(texts: list[str], options: dict[str, Any]) -> tuple[list[list[str]], list[int]]:
    """Rows of `texts` and the line each starts on, a row `csv` refuses as a `BadRow` (csv
    drops the rest of that line and starts afresh on the next)."""
    reader = csv.reader(texts, **options)
    rows: list[list[str]] = []
    starts: list[int] = []
    previous = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return rows, starts
        except csv.Error as exc:
            row = BadRow(str(exc))
        rows.append(row)
        starts.append(previous)
        previous = reader.line_num


def _quote_char(options: dict[str, Any]) -> str | None:
    """The character that quotes a CSV field under `options`, or None if fields are never
    quoted (then no field can hold a newline)."""
    if options.get("quoting", csv.QUOTE_MINIMAL) == csv.QUOTE_NONE:
        return None
    char = options.get("quotechar", '"')
    return char if isinstance(char, str) and char else None


def _sentinel(options: dict[str, Any]) -> str:
    """A line that reads as two equal fields of its own unless a quoted field before it is
    still open (then its delimiter is quoted, and it cannot read as those two fields)."""
    delimiter = options.get("delimiter", ",")
    used = {delimiter, options.get("quotechar", '"'), options.get("escapechar")}
    mark = next(c * 3 for c in "\u2063\u2062\u2061" if c not in used)
    return f"{mark}{delimiter}{mark}"


def _is_sentinel(row: list[str], sentinel: str, options: dict[str, Any]) -> bool:
    return row == sentinel.split(options.get("delimiter", ","))


def _csv_blocks(
    split: FileSplit, options: dict[str, Any], on_bad: OnBad | None, chunk: int
) -> Iterator[tuple[Origin, int, list[list[str]], list[int] | None]]:
    """(origin, lines, rows, the line each row starts on) per block of `split`.

    A quoted field may hold newlines. Such a block is parsed from its exact text (each line's
    own ending kept), and a block that ends inside a quoted field is joined with the blocks
    after it until the field closes; `csv` itself says whether it is open, so a quote
    character inside an unquoted field (``5" pipe``) is taken literally, as `csv` takes it. A
    field still open at the end of a split that is not the end of its file fails, naming it:
    such files need ``multiline=True`` (one split per file).
    """
    quote = _quote_char(options)
    sentinel = _sentinel(options)
    line: int | None = 1 if split.start == 0 else None

    def parse(offset: int, block: bytes) -> tuple[Origin, list[str], list[int] | None, Rows]:
        lines, kept = _decode(split, offset, block, line, on_bad)
        with _fields_unlimited():
            parsed = _block_rows(block, lines, kept, quote, options=options, sentinel=sentinel)
        return Origin(split.path, offset, line, block, kept), lines, kept, parsed

    held: list[bytes] = []  # blocks joined while a quoted field runs on, from `held_at`
    held_at = held_bytes = need = 0
    for offset, block in _line_blocks(split, chunk):
        if held:
            held.append(block)
            held_bytes += len(block)
            if held_bytes < need:
                continue  # wait for twice as many bytes: re-parsing stays linear overall
            offset, block = held_at, b"".join(held)
            held = []
        origin, lines, kept, parsed = parse(offset, block)
        if parsed is None:
            held, held_at, held_bytes, need = [block], offset, len(block), 2 * len(block)
            continue
        yield origin, len(lines), parsed[0], parsed[1]
        if line is not None:
            line = _next_line(line, lines, kept, block)
    if held:
        block = b"".join(held)
        origin, lines, kept, parsed = parse(held_at, block)
        if parsed is None:
            if not split.compressed and split.end < split.file_size:
                with _fields_unlimited():
                    where = origin.locate(_open_row_line(lines, options, sentinel))
                raise SplitCrossingError(
                    f"a quoted field holding newlines runs past the end of a split, at "
                    f"{where}; read files whose quoted fields hold newlines with "
                    "read_csv(..., multiline=True)"
                )
            # The file ends inside a quoted field: rows as `csv` reads them (it keeps the rest).
            with _fields_unlimited():
                parsed = (
                    _exact_rows(block, options) if kept is None else _parse_lines(lines, options)
                )
        yield origin, len(lines), parsed[0], parsed[1]


# A block's CSV rows and the line each starts on (None: one row per line), or None while a
# quoted field is still open at its end.
Rows = tuple[list[list[str]], list[int] | None] | None


def _block_rows(
    block: bytes,
    lines: list[str],
    kept: list[int] | None,
    quote: str | None,
    *,
    options: dict[str, Any],
    sentinel: str,
) -> Rows:
    """Rows of a block (and their start lines), or None if it ends inside a quoted field."""
    if quote is None or quote.encode() not in block:
        return _parse_lines(lines, options)
    if kept is not None:
        # Undecodable lines were skipped (skip mode): the exact text is gone, so fields that
        # span lines lose their newlines here, but a block still never ends inside one.
        if not _closed(lines, options, sentinel):
            return None
        return _parse_lines(lines, options)
    return _quoted_rows(block, lines, options, sentinel)


def _sentinel_rows(
    lines: list[str], options: dict[str, Any], sentinel: str
) -> tuple[list[list[str]], list[int] | None]:
    """`_parse_lines` of `lines` and then the sentinel line, never strict: strict mode would
    raise at the end of a field still open."""
    return _parse_lines([*lines, sentinel], {**options, "strict": False})


def _closed(lines: list[str], options: dict[str, Any], sentinel: str) -> bool:
    """Whether every quoted field of `lines` closes within them."""
    rows, _ = _sentinel_rows(lines, options, sentinel)
    return bool(rows) and _is_sentinel(rows[-1], sentinel, options)


def _quoted_rows(block: bytes, lines: list[str], options: dict[str, Any], sentinel: str) -> Rows:
    """Rows of a block that holds a quote character, or None if it ends inside a quoted field.

    Most such blocks have no field spanning lines: one parse of the bare lines shows it (a
    row per line, and the sentinel line a row of its own).
    """
    rows, starts = _sentinel_rows(lines, options, sentinel)
    closed = _is_sentinel(rows[-1], sentinel, options)
    if not closed:
        return None  # the last quoted field is still open
    if starts is None and len(rows) == len(lines) + 1 and not options.get("strict"):
        rows.pop()
        return rows, None
    return _exact_rows(block, options)


def _exact_rows(block: bytes, options: dict[str, Any]) -> tuple[list[list[str]], list[int]]:
    """Rows of a block parsed from its exact text, and the line each row starts on."""
    text = block.decode("utf-8")
    exact = [piece + "\n" for piece in text.split("\n")]
    exact[-1] = exact[-1][:-1]  # the text after the last newline has none
    if not exact[-1]:
        exact.pop()
    return _careful_rows(exact, options)


def _open_row_line(lines: list[str], options: dict[str, Any], sentinel: str) -> int:
    """The line on which the row still open at the end of `lines` starts."""
    _, starts = _careful_rows([*lines, sentinel], {**options, "strict": False})
    return starts[-1]


def _read_parquet(split: FileSplit) -> Iterator[Batch]:
    import pyarrow as pa

    from gristmill.io.parquet import read_rows

    check_unchanged(split)
    row = 0
    try:
        for row, records in read_rows(split):
            yield Batch(records, Origin(split.path, row, None, rows=True))
    except READ_ERRORS as exc:
        raise _read_error(split, exc) from exc
    except pa.ArrowException as exc:  # pyarrow names neither the file nor the row
        raise CorruptFileError(
            f"{split.path}: not Parquet, or corrupt after row {row}: {_reason(exc)}"
        ) from exc


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
    if fmt is Format.BINARY:
        from gristmill.io.binary import read_records

        return read_records(split, record_size, block_for(memory))  # a block is its bytes
    if fmt is Format.TEXT:
        return read_text(split, on_bad, chunk)
    if fmt is Format.JSONL:
        return read_jsonl(split, on_bad, chunk)
    return read_csv(split, csv_options, on_bad, chunk, columns, previous=previous)
