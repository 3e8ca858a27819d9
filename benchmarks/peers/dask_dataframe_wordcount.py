"""Dask dataframe word count: lines as one string column, str.split().explode(),
value_counts(), on a LocalCluster of WORKERS single-threaded processes.

usage: python -m benchmarks.peers.dask_dataframe_wordcount INPUT OUTPUT_FILE WORKERS
"""

from __future__ import annotations

import csv
import sys

import dask.dataframe as dd

from benchmarks.peers.dask_session import cluster

BLOCKSIZE = "32MiB"


def main() -> None:
    src, dst, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    local, client = cluster(workers)
    try:
        lines = dd.read_csv(
            src,
            sep="\x01",  # never in the text: each line is one field
            header=None,
            names=["line"],
            dtype={"line": "string"},
            quoting=csv.QUOTE_NONE,
            na_filter=False,  # "nan" and "null" are words
            blocksize=BLOCKSIZE,
        )
        words = lines["line"].str.split().explode().dropna()
        counts = words.value_counts().compute()
    finally:
        client.close()
        local.close()
    with open(dst, "w", encoding="utf-8") as out:
        out.writelines(f"{word}\t{n}\n" for word, n in counts.items())


if __name__ == "__main__":
    main()
