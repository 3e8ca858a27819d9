"""Line-aligned blocks of a local file as views of a memory map, for the columnar readers.

pyarrow parses a block where it lies in the page cache. Reading it instead copies it into a
fresh buffer, whose pages the kernel must fault in and zero first: that copy was a fifth of a
CSV task (45 ms of 220 per 64MB). Blocks are the same as `formats._line_blocks`: whole lines
whose first byte lies in the split, the last one running on past the split's end.

Each block maps only its own pages and is unmapped when the last view of it is dropped, so a
batch and its `Origin` keep exactly their block alive, as a `bytes` block did.

A file truncated while mapped faults (SIGBUS) and kills the process. So only worker processes
map (`enable`): there the death fails one attempt, and the retry finds the changed file
(`check_unchanged`) and names it. In the user's own process (the inline executor) blocks are
read, as before. Must not import `runtime` or `api`.
"""

from __future__ import annotations

import mmap
import os
import sys
from collections.abc import Iterator
from typing import Any

from gristmill.errors import InputFormatError
from gristmill.io.formats import _align, _line_blocks, check_unchanged
from gristmill.io.fs import _local, is_url
from gristmill.io.splits import FileSplit

PROBE = 64 * 1024  # bytes scanned at a time for the end of a block's first line
_NEWLINES = b"\r\n"


_enabled = False


def enable() -> None:
    """Map blocks in this process from now on; called by worker processes only."""
    global _enabled
    _enabled = True


def mappable(split: FileSplit) -> bool:
    """Whether `split` is read by `mapped_blocks` here: an uncompressed local file, read in a
    worker process."""
    return _enabled and not split.compressed and not is_url(split.path) and os.name == "posix"


def mapped_blocks(split: FileSplit, chunk: int) -> Iterator[tuple[int, memoryview | bytes]]:
    """Yield (offset, view) blocks of about `chunk` bytes of whole lines of `split`; a file
    system that refuses maps (some FUSE and network ones) gets read blocks instead."""
    try:
        check_unchanged(split)
        with open(_local(split.path), "rb", buffering=0) as f:
            pos = _align(f, split.start)
            size = os.fstat(f.fileno()).st_size
            first = True
            while pos < min(split.end, size):
                # The block ends with the line holding its last byte: where the next line starts.
                stop = _align(f, pos + min(chunk, split.end - pos))
                try:
                    view = _map(f.fileno(), pos, stop)
                except OSError:
                    if not first:
                        raise
                    yield from _line_blocks(split, chunk)
                    return
                except ValueError:  # the file is shorter than when it was opened
                    check_unchanged(split)
                    raise InputFormatError(f"{split.path}: input changed while reading") from None
                first = False
                yield pos, view
                pos = stop
    except FileNotFoundError as exc:
        raise InputFormatError(f"{split.path}: input file disappeared ({exc})") from exc
    except OSError as exc:
        raise InputFormatError(f"{split.path}: cannot read input: {exc}") from exc


def _map(fd: int, start: int, stop: int) -> memoryview:
    """Bytes ``[start, stop)`` of the file, mapped read-only (unmapped with the last view)."""
    base = start - start % mmap.ALLOCATIONGRANULARITY
    # Python 3.13+ can map without keeping a duplicate descriptor per live block.
    extra: dict[str, Any] = {"trackfd": False} if sys.version_info >= (3, 13) else {}
    block = mmap.mmap(fd, stop - base, access=mmap.ACCESS_READ, offset=base, **extra)
    return memoryview(block)[start - base :]


def line_length(block: memoryview | bytes) -> int:
    """Bytes of `block`'s first line, its newline included (all of it if it has none)."""
    start = 0
    while start < len(block):
        nl = bytes(block[start : start + PROBE]).find(b"\n")
        if nl >= 0:
            return start + nl + 1
        start += PROBE
    return len(block)


def only_newlines(block: memoryview | bytes) -> bool:
    """Whether `block` is empty or only line endings: no rows, for CSV (blank lines are
    skipped) as for pyarrow. Other whitespace is data: a TSV row of empty fields, a value
    " ". A block of rows is refuted by its first byte (`bytes.strip` would copy a view).

    >>> only_newlines(b"\\r\\n\\n"), only_newlines(b"\\t\\n"), only_newlines(b"")
    (True, False, True)
    """
    if not block or block[0] not in _NEWLINES:
        return not block
    import numpy as np

    return bool(np.isin(np.frombuffer(block, np.uint8), list(_NEWLINES)).all())
