"""Dataset sources: text, JSON lines, CSV, Parquet, binary records (paths, globs, URLs), items."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gristmill.api.dataset import BatchFormat, Dataset, check_partitions
from gristmill.config import as_int
from gristmill.errors import UsageError
from gristmill.plan.functions import PrefixKey
from gristmill.plan.logical import FileSource, Format, ItemsSource, Source

Paths = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]  # files, dirs, globs


def _paths(paths: Paths) -> tuple[str, ...]:
    if isinstance(paths, (str, os.PathLike)):
        return (os.fspath(paths),)
    if not isinstance(paths, Iterable):
        raise UsageError(f"input paths must be a str or a list of them, got {paths!r:.80}")
    out = tuple(str(p) for p in paths)
    if not out:
        raise UsageError("no input paths given")
    return out


def read_text(paths: Paths, *, batch_format: BatchFormat = "default") -> Dataset:
    """Lines of text files (``.gz``, ``.bz2``, ``.zst`` decompressed), without line endings.

    Directories are read recursively; names starting with ``_`` or ``.`` are skipped. With
    ``batch_format="pyarrow"`` lines are split in C++ into ``pyarrow.Table`` batches (column
    ``item``) for ``map_batches(..., batch_format="pyarrow")``; other operations see lines.

    >>> import gristmill as gm, tempfile, os
    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "a.txt")
    >>> _ = open(p, "w").write("x y\\nz\\n")
    >>> gm.read_text(p).collect(config=gm.Config(executor="inline", progress=False))
    ['x y', 'z']
    """
    options = _format_options(batch_format)
    return Dataset(Source(FileSource(_paths(paths), Format.TEXT, options)))


def read_jsonl(paths: Paths) -> Dataset:
    """One JSON value per line (blank lines skipped); a malformed line fails naming its location.

    >>> import gristmill as gm, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "in.jsonl")
    >>> with open(path, "w") as f:
    ...     _ = f.write('{"a": 1}\\n\\n[2, 3]\\n')
    >>> gm.read_jsonl(path).collect(config=gm.Config(executor="inline", progress=False))
    [{'a': 1}, [2, 3]]
    """
    return Dataset(Source(FileSource(_paths(paths), Format.JSONL)))


def read_csv(
    paths: Paths,
    *,
    delimiter: str = ",",
    quotechar: str = '"',
    batch_format: BatchFormat = "default",
    columns: Sequence[str] | None = None,
    types: Mapping[str, Any] | None = None,
    multiline: bool = False,
) -> Dataset:
    """CSV rows as dicts keyed by each file's header line (values are strings).

    ``columns`` keeps only those columns, in that order; the others are never converted
    (a file lacking one fails naming the file and the column, and so does a file whose header
    names a selected column twice: dict rows would take the last such column and pyarrow the
    first). ``types`` (with
    ``batch_format="pyarrow"``) fixes column types instead of inferring them: a pyarrow type or
    its name (``"string"``, ``"int64"``, ``"float64"``, ``"timestamp[s]"``, ...), as Spark's
    ``schema`` and Polars' ``schema_overrides`` do. A value that does not convert fails naming
    the file and offset.

    Quoted fields may hold newlines in dict rows: a batch never ends inside a quoted field.
    Files are still split at line ends (every ``split_size`` bytes, 16-128MB by default), and
    a record that crosses a split boundary fails the job naming its line; ``multiline=True``
    (Spark's ``multiLine``) reads each file as one split, for files whose quoted fields hold
    newlines. Blocks of ``batch_format="pyarrow"`` are cut at line ends, so quoted newlines
    (and ``multiline``) are not supported there.

    With ``batch_format="pyarrow"`` pyarrow parses each block into a ``pyarrow.Table`` with
    typed columns (types inferred from each file's first megabyte; a later value that does not
    fit fails naming the file and offset); operations other than pyarrow ``map_batches`` see
    dict rows with typed values.

    >>> import gristmill as gm, tempfile, os
    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "a.csv")
    >>> _ = open(p, "w").write("k,n\\na,1\\nb,2\\n")
    >>> cfg = gm.Config(executor="inline", progress=False)
    >>> gm.read_csv(p).collect(config=cfg)
    [{'k': 'a', 'n': '1'}, {'k': 'b', 'n': '2'}]
    >>> gm.read_csv(p, batch_format="pyarrow").collect(config=cfg)
    [{'k': 'a', 'n': 1}, {'k': 'b', 'n': 2}]
    >>> gm.read_csv(p, columns=["n"]).collect(config=cfg)
    [{'n': '1'}, {'n': '2'}]
    >>> gm.read_csv(p, batch_format="pyarrow", types={"n": "string"}).collect(config=cfg)
    [{'k': 'a', 'n': '1'}, {'k': 'b', 'n': '2'}]
    """
    options = (("delimiter", delimiter), ("quotechar", quotechar), *_format_options(batch_format))
    if multiline:
        if batch_format == "pyarrow":
            raise UsageError(
                "multiline=True needs batch_format='default': pyarrow blocks are cut at line ends"
            )
        options += (("multiline", True),)  # only when set: plans of other reads stay the same
    if types:
        if batch_format != "pyarrow":
            raise UsageError(
                "types= needs batch_format='pyarrow': record rows hold the CSV text, "
                "convert their values in a map"
            )
        options += (("types", _arrow_types(types)),)
    if columns is not None:
        if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
            raise UsageError(f"columns must be a list of column names, got {columns!r}")
        if not columns or len(set(columns)) != len(columns):
            raise UsageError(f"columns must name each column once, got {list(columns)!r}")
        options += (("columns", tuple(columns)),)
    return Dataset(Source(FileSource(_paths(paths), Format.CSV, options)))


def _arrow_types(types: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """`types` as sorted (column, pyarrow type) pairs; names such as "int64" are resolved."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if not isinstance(types, Mapping):
        raise UsageError(f"types must map column names to types, got {types!r}")
    out = []
    for column, kind in types.items():
        if not isinstance(column, str):
            raise UsageError(f"types must map column names to types, got key {column!r}")
        if isinstance(kind, str):
            try:
                kind = pa.type_for_alias(kind)
            except ValueError:
                raise UsageError(
                    f"types: unknown type {kind!r} for column {column!r}; give a pyarrow type "
                    "or a name such as 'string', 'int64', 'float64' or 'timestamp[s]'"
                ) from None
        elif not isinstance(kind, pa.DataType):
            raise UsageError(f"types: column {column!r} needs a pyarrow type, got {kind!r}")
        try:  # nested types (list, struct, map) have no CSV form: refuse them now
            convert = pacsv.ConvertOptions(column_types={"c": kind})
            pacsv.read_csv(pa.py_buffer(b"c\n"), convert_options=convert)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise UsageError(
                f"types: column {column!r} cannot be read from CSV as {kind}: {exc}"
            ) from None
        out.append((column, kind))
    return tuple(sorted(out, key=lambda pair: pair[0]))


def _format_options(batch_format: str) -> tuple[tuple[str, Any], ...]:
    if batch_format not in ("default", "pyarrow"):
        raise UsageError(f"batch_format must be 'default' or 'pyarrow', got {batch_format!r}")
    return (("batch_format", batch_format),) if batch_format == "pyarrow" else ()


def read_parquet(paths: Paths) -> Dataset:
    """Rows of Parquet files as dicts (column name to value); each file is one split.

    Files are read a batch of rows at a time, so a file larger than memory is fine; a job
    reading one huge file runs that file in one task. Directories skip ``_SUCCESS`` and other
    ``_``/``.`` names, so a `write_parquet` output directory reads back as it is.

    >>> import gristmill as gm, tempfile, os
    >>> out = os.path.join(tempfile.mkdtemp(), "out")
    >>> cfg = gm.Config(executor="inline", progress=False)
    >>> _ = gm.from_items([{"n": 1}, {"n": 2}], partitions=2).write_parquet(out, config=cfg)
    >>> gm.read_parquet(out).collect(config=cfg)
    [{'n': 1}, {'n': 2}]
    """
    return Dataset(Source(FileSource(_paths(paths), Format.PARQUET)))


def read_binary_records(paths: Paths, record_size: int) -> Dataset:
    """Fixed-width binary records of `record_size` bytes each (Spark's ``binaryRecords``).

    Records travel as numpy blocks: sorting them by ``prefix_key(n)`` and writing them with
    ``write_binary_records`` never makes a Python object per record. Any other operation sees
    each record as ``bytes``. A file whose size is not a multiple of `record_size` fails,
    naming the file and the offset of its partial record.

    >>> import gristmill as gm, tempfile, os
    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "r.bin")
    >>> _ = open(p, "wb").write(b"b2a1c3")
    >>> gm.read_binary_records(p, 2).sort_by(gm.prefix_key(1)).collect(
    ...     config=gm.Config(executor="inline", progress=False))
    [b'a1', b'b2', b'c3']
    """
    record_size = as_int(record_size, "record_size")
    if record_size < 1:
        raise UsageError(f"record_size must be at least 1 byte, got {record_size!r}")
    return Dataset(Source(FileSource(_paths(paths), Format.BINARY, record_size=record_size)))


def prefix_key(size: int) -> PrefixKey:
    """A sort key of each record's first `size` bytes, sorted columnar on binary records.

    >>> prefix_key(3)(b"abcdef")
    b'abc'
    """
    if size < 1:
        raise UsageError(f"prefix_key needs at least 1 byte, got {size}")
    return PrefixKey(size)


def from_items(items: Iterable[Any], partitions: int | None = None) -> Dataset:
    """A dataset of in-memory items, cut into contiguous partitions.

    The default partition count depends only on the number of items (never on workers), so
    output stays identical whatever runs it.

    >>> import gristmill as gm
    >>> gm.from_items(range(5), partitions=2).map(lambda x: x * x).collect(
    ...     config=gm.Config(executor="inline", progress=False))
    [0, 1, 4, 9, 16]
    """
    if not isinstance(items, Iterable):
        raise UsageError(f"from_items takes an iterable, got {type(items).__name__}: {items!r:.80}")
    data = list(items)
    if partitions is None:
        # At least one partition, if an empty one: no items is a valid (empty) dataset.
        partitions = max(1, min(len(data), 2), min(64, math.ceil(len(data) / 100_000)))
    count = check_partitions(partitions)
    assert count is not None
    return Dataset(Source(ItemsSource.cut(data, count)))
