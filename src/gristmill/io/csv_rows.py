"""CSV rows as dicts: a split's blocks parsed by the csv module, the header read first.

A quoted field may hold newlines, so a block that ends inside one is parsed again with more
lines, and a record crossing a split's end is caught (`SplitCrossingError`, naming its line)
unless the file is read whole (``multiline=True``). Must not import `runtime` or `api`.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import csv
import functools
import itertools
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from gristmill.errors import InputFormatError
from gristmill.io.formats import (
    CHUNK,
    Batch,
    OnBad,
    Origin,
    _decode,
    _line_blocks,
    _next_line,
)
from gristmill.io.splits import FileSplit


def _csv_header(split: FileSplit, options: dict[str, Any]) -> list[str]:
    """The first record of the file, decoded line by line only as far as it goes (a quoted
    name may hold a newline; a bad line below it is the rows' business, not the header's).

    It is read in the same line blocks as the rows, so every compression reads it alike (a
    zstd stream has no `readline`)."""
    whole = FileSplit(split.path, 0, split.file_size, split.file_size, split.mtime)
    with contextlib.closing(_line_blocks(whole, HEADER_CHUNK)) as blocks:
        raws = (raw for _, block in blocks for raw in _keepends(block))
        # Excel's UTF-8 CSV starts with a byte order mark: not part of the first name (nor
        # before its opening quote).
        lines = (raw.decode("utf-8") for raw in _without_bom(raws))
        try:
            with _fields_unlimited():
                names = next(csv.reader(lines, **options), [])
        except UnicodeDecodeError:
            raise InputFormatError(f"invalid UTF-8 in the header line of {split.path}") from None
        except csv.Error as exc:
            raise InputFormatError(f"malformed CSV header in {split.path}: {exc}") from None
    return names


def _without_bom(raws: Iterator[bytes]) -> Iterator[bytes]:
    first = next(raws, None)
    if first is not None:
        yield first.removeprefix(codecs.BOM_UTF8)
        yield from raws


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
