"""DuckDB high-cardinality sum: read_csv (tab), GROUP BY key, COPY to a tab file.

usage: python -m benchmarks.peers.duckdb_highcard INPUT OUTPUT_FILE WORKERS
"""

from __future__ import annotations

import sys

import duckdb


def main() -> None:
    src, dst, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    con = duckdb.connect()
    con.execute(f"SET threads = {workers}")
    pairs = (
        f"read_csv('{src}', columns={{'key': 'VARCHAR', 'value': 'BIGINT'}}, delim='\\t', "
        "header=false, quote='', escape='')"
    )
    con.execute(
        f"COPY (SELECT key, sum(value) FROM {pairs} GROUP BY key) TO '{dst}' "
        "(FORMAT csv, DELIMITER '\\t', HEADER false, QUOTE '')"
    )


if __name__ == "__main__":
    main()
