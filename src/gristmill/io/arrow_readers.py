"""Columnar readers: text and CSV splits as ``pyarrow.Table`` batches (``batch_format="pyarrow"``).

The same line-aligned blocks as the record readers, parsed by pyarrow in C++ instead of one
Python object per line or row. CSV column types are inferred from the first block of each file
(every split of a file infers the same types, so all its batches share one schema), as Spark
and Polars infer from a sample. A bad block fails naming the file and byte offset; in skip mode
it is re-read line by line and only the bad lines are skipped. Must not import `runtime`/`api`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from gristmill.errors import InputFormatError
from gristmill.io.columnar import ITEM
from gristmill.io.csv_rows import _csv_header, csv_columns
from gristmill.io.formats import Batch, OnBad, Origin, _decode, _line_blocks
from gristmill.io.mapped import line_length, mappable, mapped_blocks, only_newlines
from gristmill.io.splits import FileSplit

if TYPE_CHECKING:
    import pyarrow as pa

INFER_BYTES = 1 << 20  # the sample each file's CSV column types are inferred from
NEWLINE, CR = ord("\n"), ord("\r")


def read_text_table(split: FileSplit, on_bad: OnBad | None, chunk: int) -> Iterator[Batch]:
    """Lines of `split` as one-column tables (``item``), without line endings."""
    import pyarrow as pa
    import pyarrow.compute as pc

    line: int | None = 1 if split.start == 0 else None
    for offset, block in _blocks(split, chunk):
        try:
            text = _one_string(block)
        except pa.ArrowInvalid:
            # The record reader names (or, skipping, quarantines) the exact undecodable line.
            raw = bytes(block)
            lines_py, kept = _decode(split, offset, raw, line, on_bad)
            origin = Origin(split.path, offset, line, raw, kept)
            yield Batch(pa.table({ITEM: pa.array(lines_py, pa.string())}), origin)
            if line is not None:
                line += raw.count(b"\n") + (raw[-1:] != b"\n")
            continue
        lines = pc.list_flatten(pc.split_pattern(text, "\n"))
        if block[-1] == NEWLINE:
            lines = lines.slice(0, len(lines) - 1)
        if _has_cr(block):
            lines = pc.replace_substring_regex(lines, "\r$", "")  # one \r, as the record reader
        yield Batch(pa.table({ITEM: lines}), Origin(split.path, offset, line, block))
        if line is not None:
            line += len(lines)


def _blocks(split: FileSplit, chunk: int) -> Iterator[tuple[int, bytes | memoryview]]:
    """`split`'s line-aligned blocks: mapped in place where the file is local and uncompressed."""
    if mappable(split):
        return mapped_blocks(split, chunk)
    return _line_blocks(split, chunk)


def _has_cr(block: bytes | memoryview) -> bool:
    """Whether `block` holds a carriage return; a view is scanned in place (Arrow's substring
    match is 40x slower on one long string)."""
    import numpy as np

    return bool((np.frombuffer(block, np.uint8) == CR).any())


def _one_string(block: bytes | memoryview) -> Any:
    """`block` as a one-value string array over the same memory (no copy); UTF-8 is checked."""
    import pyarrow as pa

    offsets = pa.array([0, len(block)], pa.int32()).buffers()[1]
    raw = pa.Array.from_buffers(pa.binary(), 1, [None, offsets, pa.py_buffer(block)])
    return raw.cast(pa.string())  # raises ArrowInvalid on bad UTF-8


def read_csv_table(
    split: FileSplit,
    options: dict[str, Any],
    on_bad: OnBad | None,
    chunk: int,
    columns: tuple[str, ...] | None = None,
    *,
    types: tuple[tuple[str, pa.DataType], ...] = (),
) -> Iterator[Batch]:
    """Rows of `split` as tables with the header's columns and types inferred per file; with
    `columns`, only those (pyarrow skips converting the others); `types` fixes some columns'
    types instead."""
    import pyarrow as pa

    header = _csv_header(split, options)
    if not header:
        return
    unknown = [name for name, _ in types if name not in header]
    if unknown:
        raise InputFormatError(
            f"{split.path}: types names column {', '.join(map(repr, unknown))} "
            f"not in its header {header}"
        )
    whole = FileSplit(split.path, 0, split.file_size, split.file_size, split.mtime)
    schema = _file_schema(whole, tuple(sorted(options.items())), tuple(header), types)
    if columns is not None:
        schema = pa.schema([schema.field(i) for i in csv_columns(split, header, columns)])
    first = split.start == 0
    for offset, block in _blocks(split, chunk):
        if first:  # the header line is not a row
            first = False
            cut = line_length(block)
            block, offset = block[cut:], offset + cut
        if only_newlines(block):
            continue
        origin = Origin(split.path, offset, None, block)
        try:
            table = _parse(block, header, schema, options)
        except Exception as exc:  # pyarrow raises ArrowInvalid, ArrowTypeError, ...
            if on_bad is None:
                raise InputFormatError(
                    f"{split.path}: malformed CSV in the block at byte offset {offset}: {exc}"
                ) from None
            raw = bytes(block)
            origin = Origin(split.path, offset, None, raw)
            table = _skipping(raw, header, schema, options, origin=origin, on_bad=on_bad)
        yield Batch(table, origin)


def _parse(
    block: bytes | memoryview, header: list[str], schema: pa.Schema, options: dict[str, Any]
) -> Any:
    types = {field.name: field.type for field in schema}
    return _read_csv(block, header, options, types, schema.names).cast(schema)


def _read_csv(
    data: bytes | memoryview,
    header: list[str],
    options: dict[str, Any],
    types: dict[str, Any] | None = None,
    columns: list[str] | None = None,
    *,
    skip_invalid: bool = False,
) -> Any:
    """`data` (rows, no header line) parsed by pyarrow on this thread; `types` fixes columns,
    `columns` (default all) are the ones converted."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    read = pacsv.ReadOptions(column_names=header, use_threads=False, block_size=len(data) + 1)
    parse = pacsv.ParseOptions(
        delimiter=options.get("delimiter", ","),
        quote_char=options.get("quotechar", '"'),
        invalid_row_handler=(lambda _row: "skip") if skip_invalid else None,
    )
    convert = pacsv.ConvertOptions(column_types=types or {}, include_columns=columns or [])
    return pacsv.read_csv(pa.py_buffer(data), read, parse, convert)


def _skipping(
    block: bytes,
    header: list[str],
    schema: pa.Schema,
    options: dict[str, Any],
    *,
    origin: Origin,
    on_bad: OnBad,
) -> Any:
    """Skip mode: parse the block line by line, handing each bad line to `on_bad`."""
    import pyarrow as pa

    good, kept = [], []
    for i, raw in enumerate(block.split(b"\n")):
        if only_newlines(raw):
            continue  # a blank line, skipped as pyarrow and the dict rows skip it
        try:
            good.append(_parse(raw + b"\n", header, schema, options))
            kept.append(i)
        except Exception as exc:
            on_bad(origin.locate(i), f"malformed CSV row: {exc}")
    origin.keep(kept, block.count(b"\n") + (block[-1:] != b"\n"))
    return pa.concat_tables(good) if good else schema.empty_table()


@lru_cache(maxsize=64)
def _file_schema(
    split: FileSplit,
    options: tuple[tuple[str, Any], ...],
    header: tuple[str, ...],
    types: tuple[tuple[str, pa.DataType], ...] = (),
) -> pa.Schema:
    """Column types inferred from the first rows of the file (`split` is the whole file, so
    every split of one file shares the cache entry and the types), but those `types` fixes."""
    import pyarrow as pa

    opts = dict(options)
    sample = _head(split)
    body = sample[sample.find(b"\n") + 1 :] if b"\n" in sample else b""
    fixed = dict(types)
    if only_newlines(body):
        return pa.schema([(name, fixed.get(name, pa.string())) for name in header])
    try:
        # Rows of the wrong width are left out of the sample: the block that holds one fails
        # (or, in skip mode, skips it) when it is read, naming its offset. Fixed columns are
        # read as text here, so a value that does not convert fails the same way.
        as_text = {name: pa.string() for name in fixed}
        inferred = _read_csv(body, list(header), opts, as_text, skip_invalid=True).schema
    except Exception as exc:
        raise InputFormatError(
            f"{split.path}: cannot infer CSV column types from its first rows: {exc}"
        ) from None
    # A column empty in every sampled row infers as null, which would fail on the first value
    # further down: read it as text, as a column of no numbers is.
    return pa.schema(
        [
            (f.name, fixed.get(f.name, pa.string() if pa.types.is_null(f.type) else f.type))
            for f in inferred
        ]
    )


def _head(split: FileSplit) -> bytes:
    """The lines of the whole-file `split` that start in its first `INFER_BYTES` (of the
    decompressed stream), whole: the same sample whether or not the file is compressed or
    ends with a newline (a compressed stream's blocks end at a read's last newline, and its
    unterminated last line comes as a block of its own)."""
    head = FileSplit(split.path, 0, min(split.file_size, INFER_BYTES), split.file_size, split.mtime)
    if split.compressed:
        head = split
    blocks, size = [], 0
    with contextlib.closing(_line_blocks(head, INFER_BYTES)) as lines:
        for _, block in lines:
            blocks.append(block)
            size += len(block)
            if size >= INFER_BYTES:
                break
    sample = b"".join(blocks)
    end = sample.find(b"\n", INFER_BYTES - 1) + 1  # the end of the line holding the last byte
    return sample[:end] if end else sample
