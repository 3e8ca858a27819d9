"""DuckDB TeraSort: the records as an Arrow table (10-byte key, 100-byte record, input
position), queried by DuckDB with ORDER BY key (position breaks ties, as a stable sort would),
the record column written as one file.

usage: python -m benchmarks.peers.duckdb_sort INPUT_DIR OUTPUT_FILE WORKERS
"""

from __future__ import annotations

import sys

import duckdb

from benchmarks.peers.tera_arrow import load, write


def main() -> None:
    src, dst, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    con = duckdb.connect()
    con.execute(f"SET threads = {workers}")
    records = load(src)
    con.register("records", records)
    ordered = con.sql("SELECT record FROM records ORDER BY key, pos").to_arrow_table()
    write(dst, ordered.column("record"))


if __name__ == "__main__":
    main()
