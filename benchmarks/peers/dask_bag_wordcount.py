"""Dask bag word count: read_text in blocks, str.split().flatten().frequencies(), on a
LocalCluster of WORKERS single-threaded processes.

usage: python -m benchmarks.peers.dask_bag_wordcount INPUT OUTPUT_FILE WORKERS
"""

from __future__ import annotations

import sys

import dask.bag as db

from benchmarks.peers.dask_session import cluster

BLOCKSIZE = "32MiB"


def main() -> None:
    src, dst, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    local, client = cluster(workers)
    try:
        lines = db.read_text(src, blocksize=BLOCKSIZE)
        counts = lines.str.split().flatten().frequencies().compute()
    finally:
        client.close()
        local.close()
    with open(dst, "w", encoding="utf-8") as out:
        out.writelines(f"{word}\t{n}\n" for word, n in counts)


if __name__ == "__main__":
    main()
