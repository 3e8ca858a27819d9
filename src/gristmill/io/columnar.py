"""Columnar batches: pyarrow tables alongside record lists and binary record blocks.

A batch travels as a list of records, a numpy block of fixed-width binary records
(`io.binary`), or a ``pyarrow.Table``. Columnar batches stay columnar as far as an operator
understands them (``map_batches(..., batch_format="pyarrow")``, ``count_by_value``, the binary
sink); anywhere else they become records. Records and tables map onto each other as Ray Data's
do: plain values are one column named ``item``, dicts are one column per key, and ``(key,
value)`` pairs are the columns ``key`` and ``value``. Must not import `runtime` or `api`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gristmill.io.binary import is_block, to_records

if TYPE_CHECKING:
    import pyarrow as pa

ITEM = "item"
PAIR = ("key", "value")


def is_table(batch: Any) -> bool:
    """Whether `batch` is a ``pyarrow.Table`` (checked without importing pyarrow).

    >>> is_table(["a"])
    False
    """
    cls = type(batch)
    return cls.__name__ == "Table" and cls.__module__.startswith("pyarrow")


def is_columnar(batch: Any) -> bool:
    """Whether `batch` is a block or a table rather than a list of records."""
    return is_block(batch) or is_table(batch)


def as_records(batch: Any) -> list[Any]:
    """`batch` as a list of records (blocks give ``bytes``, tables give values, dicts, pairs).

    >>> import pyarrow as pa
    >>> as_records(pa.table({"key": ["a", "b"], "value": [1, 2]}))
    [('a', 1), ('b', 2)]
    """
    if is_block(batch):
        return to_records(batch)
    if is_table(batch):
        return table_records(batch)
    return batch  # type: ignore[no-any-return]


def table_records(table: pa.Table) -> list[Any]:
    """The records a table stands for (see the module docstring for the mapping)."""
    names = tuple(table.column_names)
    if names == (ITEM,):
        return table.column(0).to_pylist()  # type: ignore[no-any-return]
    if names == PAIR:
        return list(zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True))
    return table.to_pylist()  # type: ignore[no-any-return]


def to_table(batch: Any) -> pa.Table:
    """`batch` as a ``pyarrow.Table``: records by the first record's shape, blocks as binary.

    >>> to_table(["a", "b"]).column_names
    ['item']
    """
    import pyarrow as pa

    if is_table(batch):
        return batch
    if is_block(batch):
        size = batch.shape[1]
        data = pa.py_buffer(batch.tobytes())
        column = pa.Array.from_buffers(pa.binary(size), len(batch), [None, data])
        return pa.table({ITEM: column})
    records = list(batch)
    first = records[0] if records else None
    if isinstance(first, dict):
        return pa.Table.from_pylist(records)
    if type(first) is tuple and len(first) == 2:
        keys, values = zip(*records, strict=True)
        return pa.table({PAIR[0]: list(keys), PAIR[1]: list(values)})
    return pa.table({ITEM: pa.array(records)})


def table_output(out: Any) -> Any:
    """A columnar fn's result as a table: arrays become the ``item`` column.

    Lists and tables pass through; anything else is an error naming its type.
    """
    import pyarrow as pa

    if isinstance(out, (pa.Array, pa.ChunkedArray)):
        return pa.table({ITEM: out})
    if isinstance(out, pa.RecordBatch):
        return pa.Table.from_batches([out])
    if is_columnar(out) or isinstance(out, list):
        return out
    raise TypeError(
        "a pyarrow map_batches function must return a pyarrow Table, RecordBatch or Array "
        f"(or a list of records), got {type(out).__name__}"
    )


class ArrowBatches:
    """`fn` applied to each batch as a ``pyarrow.Table`` (``map_batches(batch_format="pyarrow")``).

    >>> import pyarrow.compute as pc
    >>> ArrowBatches(lambda t: pc.utf8_upper(t["item"]))(["a", "b"]).to_pydict()
    {'item': ['A', 'B']}
    """

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.__qualname__ = getattr(fn, "__qualname__", type(fn).__name__)  # what explain shows

    def __call__(self, batch: Any) -> Any:
        return table_output(self.fn(to_table(batch)))
