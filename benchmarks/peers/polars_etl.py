"""Polars ETL: lazy scan_csv of both tables, join, group_by(category, day), sink_parquet.

Prices are read as Decimal(12, 2), so the revenue sum is exact.

usage: python -m benchmarks.peers.polars_etl ORDERS PRODUCTS OUTPUT_FILE.parquet
"""

from __future__ import annotations

import sys

import polars as pl


def main() -> None:
    orders, products, dst = sys.argv[1], sys.argv[2], sys.argv[3]
    lines = pl.scan_csv(
        orders,
        schema_overrides={"product_id": pl.Int64, "quantity": pl.Int64, "price": pl.String},
    )
    cats = pl.scan_csv(products, schema_overrides={"product_id": pl.Int64})
    revenue = (
        lines.join(cats, on="product_id")
        .with_columns(
            pl.col("timestamp").str.slice(0, 10).alias("day"),
            (pl.col("price").str.to_decimal(scale=2) * pl.col("quantity")).alias("amount"),
        )
        .group_by("category", "day")
        .agg(pl.col("amount").sum().alias("revenue"))
    )
    revenue.sink_parquet(dst)


if __name__ == "__main__":
    main()
