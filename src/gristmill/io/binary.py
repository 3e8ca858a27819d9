"""Fixed-width binary records (the sort benchmark's 100-byte layout, Spark's binaryRecords).

A split is read into blocks: numpy ``uint8`` arrays of shape (n, record_size), whole records
only. Blocks stay columnar as far as an operator understands them (sort by a key prefix, the
binary sink); anywhere else they become ``bytes`` records. Must not import `runtime` or `api`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from gristmill.errors import InputFormatError
from gristmill.io.formats import Batch, Origin, open_split
from gristmill.io.splits import FileSplit

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Block = npt.NDArray[np.uint8]

BLOCK_BYTES = 4 << 20  # per read: large enough for C-speed work, small next to any budget


def is_block(records: Any) -> bool:
    """Whether `records` is a block of binary records rather than a list.

    >>> is_block([b"ab"])
    False
    """
    return type(records).__name__ == "ndarray"


def to_records(block: Block) -> list[bytes]:
    """A block as a list of ``bytes`` records (for record-wise user code).

    >>> import numpy as np
    >>> to_records(np.frombuffer(b"abcd", dtype=np.uint8).reshape(2, 2))
    [b'ab', b'cd']
    """
    data = block.tobytes()
    size = block.shape[1]
    return [data[i : i + size] for i in range(0, len(data), size)]


def to_block(records: list[Any], record_size: int) -> Block:
    """``bytes`` records of exactly `record_size` bytes as a block; anything else is an error."""
    import numpy as np

    for record in records:
        if not isinstance(record, (bytes, bytearray)) or len(record) != record_size:
            raise TypeError(
                f"expected {record_size}-byte binary records, got {type(record).__name__}: "
                f"{record!r:.80}"
            )
    return np.frombuffer(b"".join(records), dtype=np.uint8).reshape(-1, record_size)


def read_records(
    split: FileSplit, record_size: int, block_bytes: int = BLOCK_BYTES
) -> Iterator[Batch]:
    """Blocks of the records whose first byte lies in `split` (splits start on records).

    A file whose size is not a multiple of `record_size` fails, naming the file and the offset
    of its partial last record; nothing is silently dropped.
    """
    import numpy as np

    if record_size < 1:
        raise ValueError(f"record_size must be at least 1, got {record_size}")
    if not split.compressed and split.file_size % record_size:
        _partial(split.path, split.file_size, record_size)
    per_read = max(1, block_bytes // record_size)
    with open_split(split) as f:
        pos = 0 if split.compressed else split.start
        end = None if split.compressed else split.end
        if pos:
            f.seek(pos)
        while end is None or pos < end:
            want = per_read if end is None else min(per_read, (end - pos) // record_size)
            buf = np.empty(want * record_size, dtype=np.uint8)
            got = _read_into(f, buf)
            if got % record_size:
                _partial(split.path, pos + got, record_size)
            if got:
                block = buf[:got].reshape(-1, record_size)
                yield Batch(block, Origin(split.path, pos, None, record_size=record_size))
                pos += got
            if got < len(buf):
                break


def _read_into(f: Any, buf: Any) -> int:
    """Fill `buf` from `f` (short reads are normal for pipes and decompressors)."""
    view = memoryview(buf)
    got = 0
    readinto = getattr(f, "readinto", None)
    while got < len(view):
        if readinto is not None:
            n = readinto(view[got:])
        else:
            data = f.read(len(view) - got)
            n = len(data)
            view[got : got + n] = data
        if not n:
            break
        got += n
    return got


def _partial(path: str, size: int, record_size: int) -> None:
    last = size - size % record_size
    raise InputFormatError(
        f"{path}: size {size} is not a multiple of the record size {record_size}; the last "
        f"record at byte offset {last} has only {size - last} bytes"
    )
