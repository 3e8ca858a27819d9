"""Single-process Python ETL baseline: csv module, a dict of categories, a dict of cents.

usage: python -m benchmarks.peers.python_etl ORDERS PRODUCTS OUTPUT_FILE.parquet
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict


def cents(price: str) -> int:
    whole, _, frac = price.partition(".")
    return int(whole) * 100 + int(frac.ljust(2, "0") or 0)


def main() -> None:
    orders, products, dst = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(products, newline="", encoding="utf-8") as f:
        category = {row["product_id"]: row["category"] for row in csv.DictReader(f)}
    revenue: defaultdict[tuple[str, str], int] = defaultdict(int)
    with open(orders, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            cat = category.get(row["product_id"])
            if cat is not None:  # an inner join, as the engines do
                revenue[cat, row["timestamp"][:10]] += int(row["quantity"]) * cents(row["price"])
    import pyarrow as pa
    import pyarrow.parquet as pq

    keys = sorted(revenue)
    table = pa.table(
        {
            "category": [k[0] for k in keys],
            "day": [k[1] for k in keys],
            "revenue_cents": [revenue[k] for k in keys],
        }
    )
    pq.write_table(table, dst)


if __name__ == "__main__":
    main()
