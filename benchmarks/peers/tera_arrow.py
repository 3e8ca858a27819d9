"""TeraSort records as Arrow columns for the dataframe peers: read every `part-*` file into one
numpy buffer, expose the 10-byte keys and whole 100-byte records as FixedSizeBinary columns
(plus the input position, to break key ties as a stable sort would), and write a sorted
record column back out as one binary file.
"""

from __future__ import annotations

import glob
import os

import numpy as np
import pyarrow as pa

KEY, RECORD = 10, 100


def load(src: str) -> pa.Table:
    files = sorted(glob.glob(os.path.join(src, "part-*")))
    data = np.empty(sum(os.path.getsize(f) for f in files), dtype=np.uint8)
    pos = 0
    for name in files:
        with open(name, "rb") as f:
            pos += f.readinto(memoryview(data)[pos:])
    rows = data.reshape(-1, RECORD)
    n = len(rows)
    keys = np.ascontiguousarray(rows[:, :KEY])
    key = pa.Array.from_buffers(pa.binary(KEY), n, [None, pa.py_buffer(keys)])
    record = pa.Array.from_buffers(pa.binary(RECORD), n, [None, pa.py_buffer(data)])
    return pa.table({"key": key, "record": record, "pos": pa.array(np.arange(n))})


def write(dst: str, records: pa.ChunkedArray | pa.Array) -> None:
    """Write the records' bytes in order: each is RECORD bytes, so no separators."""
    chunks = records.chunks if isinstance(records, pa.ChunkedArray) else [records]
    with open(dst, "wb") as out:
        for chunk in chunks:
            chunk = chunk.cast(pa.large_binary())
            offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int64)
            start, end = offsets[chunk.offset], offsets[chunk.offset + len(chunk)]
            assert end - start == RECORD * len(chunk), "records are not all 100 bytes"
            out.write(memoryview(chunk.buffers()[2])[start:end])
