"""Single-process in-memory numpy sort of 100-byte records by their 10-byte keys.

The best plain-numpy form we know: read every file into one array, argsort the first 8 key
bytes as one big-endian integer (full-key lexsort only if those tie), gather rows with
``np.take`` (3x faster than fancy indexing here), write once. Needs about 2x the input in RAM.

usage: python -m benchmarks.peers.numpy_sort INPUT_DIR OUTPUT_FILE
"""

from __future__ import annotations

import glob
import os
import sys

import numpy as np


def main() -> None:
    src, dst = sys.argv[1], sys.argv[2]
    files = sorted(glob.glob(os.path.join(src, "part-*")))
    total = sum(os.path.getsize(f) for f in files)
    data = np.empty(total, dtype=np.uint8)
    pos = 0
    for name in files:
        with open(name, "rb") as f:
            pos += f.readinto(memoryview(data)[pos:])
    rows = data.reshape(-1, 100)
    head = np.zeros((len(rows), 8), dtype=np.uint8)
    head[:] = rows[:, :8]
    hi = head.view(">u8").ravel().astype(np.uint64)
    del head
    order = np.argsort(hi, kind="stable")
    ordered = hi[order]
    if (ordered[1:] == ordered[:-1]).any():  # 8-byte prefixes tie: sort by the whole key
        lo = rows[:, 8:10].copy().view(">u2").ravel()
        order = np.lexsort((lo, hi))
    np.take(rows, order, axis=0).tofile(dst)


if __name__ == "__main__":
    main()
