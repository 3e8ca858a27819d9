"""Polars high-cardinality sum: scan_csv (tab, no header), group_by(key).sum(), tab file.

usage: python -m benchmarks.peers.polars_highcard INPUT OUTPUT_FILE
"""

from __future__ import annotations

import sys

import polars as pl


def main() -> None:
    src, dst = sys.argv[1], sys.argv[2]
    pairs = pl.scan_csv(
        src,
        has_header=False,
        separator="\t",
        quote_char=None,
        schema={"key": pl.String, "value": pl.Int64},
    )
    sums = pairs.group_by("key").agg(pl.col("value").sum())
    sums.sink_csv(dst, separator="\t", include_header=False, quote_style="never")


if __name__ == "__main__":
    main()
