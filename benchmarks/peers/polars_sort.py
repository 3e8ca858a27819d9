"""Polars TeraSort: the records as Arrow columns (10-byte key, 100-byte record), handed to
Polars with pl.from_arrow, sorted by key (stable), the record column written as one file.

usage: python -m benchmarks.peers.polars_sort INPUT_DIR OUTPUT_FILE WORKERS
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    src, dst, workers = sys.argv[1], sys.argv[2], sys.argv[3]
    os.environ["POLARS_MAX_THREADS"] = workers  # read when polars is first imported
    import polars as pl

    from benchmarks.peers.tera_arrow import load, write

    frame = pl.from_arrow(load(src).drop(["pos"]))
    assert isinstance(frame, pl.DataFrame)
    ordered = frame.sort("key", maintain_order=True)
    write(dst, ordered.get_column("record").to_arrow())


if __name__ == "__main__":
    main()
