"""DuckDB word count: read lines, unnest(string_split), GROUP BY, COPY to a tab file.

usage: python -m benchmarks.peers.duckdb_wordcount INPUT OUTPUT_FILE WORKERS
"""

from __future__ import annotations

import sys

import duckdb


def main() -> None:
    src, dst, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    con = duckdb.connect()
    con.execute(f"SET threads = {workers}")
    lines = (
        f"read_csv('{src}', columns={{'line': 'VARCHAR'}}, delim='\\x01', header=false, "
        "quote='', escape='')"
    )
    con.execute(
        f"COPY (SELECT word, count(*) FROM (SELECT unnest(string_split(line, ' ')) AS word "
        f"FROM {lines}) WHERE word <> '' GROUP BY word) TO '{dst}' "
        "(FORMAT csv, DELIMITER '\\t', HEADER false, QUOTE '')"
    )


if __name__ == "__main__":
    main()
