"""Polars word count: lines as one string column, split, explode, group_by().len().

usage: python -m benchmarks.peers.polars_wordcount INPUT OUTPUT_FILE
"""

from __future__ import annotations

import sys

import polars as pl


def main() -> None:
    src, dst = sys.argv[1], sys.argv[2]
    lines = pl.scan_csv(
        src, has_header=False, separator="\x01", quote_char=None, new_columns=["line"]
    )
    words = lines.select(pl.col("line").str.split(" ").explode().alias("word"))
    counts = words.filter(pl.col("word") != "").group_by("word").len()
    counts.collect().write_csv(dst, separator="\t", include_header=False, quote_style="never")


if __name__ == "__main__":
    main()
