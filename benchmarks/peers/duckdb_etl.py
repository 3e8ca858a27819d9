"""DuckDB ETL: SQL over read_csv (price as DECIMAL(12,2)), join, GROUP BY, COPY TO Parquet.

usage: python -m benchmarks.peers.duckdb_etl ORDERS PRODUCTS OUTPUT_FILE.parquet WORKERS
"""

from __future__ import annotations

import sys

import duckdb


def main() -> None:
    orders, products, dst, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    con = duckdb.connect()
    con.execute(f"SET threads = {workers}")
    con.execute(
        f"""
        COPY (
            SELECT p.category, substr(o.timestamp, 1, 10) AS day,
                   sum(o.quantity * o.price) AS revenue
            FROM read_csv('{orders}', header = true, types = {{
                     'product_id': 'BIGINT', 'quantity': 'BIGINT',
                     'price': 'DECIMAL(12,2)', 'timestamp': 'VARCHAR'}}) AS o
            JOIN read_csv('{products}', header = true,
                     types = {{'product_id': 'BIGINT'}}) AS p
              ON o.product_id = p.product_id
            GROUP BY ALL
        ) TO '{dst}' (FORMAT parquet)
        """
    )


if __name__ == "__main__":
    main()
