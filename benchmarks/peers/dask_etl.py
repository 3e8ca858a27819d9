"""Dask dataframe ETL on a LocalCluster (127.0.0.1, no dashboard): read_csv, merge, groupby.

Prices are parsed to integer cents from their text, so the sum is exact without decimals.

usage: python -m benchmarks.peers.dask_etl ORDERS PRODUCTS OUTPUT_DIR WORKERS
"""

from __future__ import annotations

import sys


def main() -> None:
    orders, products, dst, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    import dask.dataframe as dd
    from dask.distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        lines = dd.read_csv(orders, dtype={"price": "string", "timestamp": "string"})
        cats = dd.read_csv(products, usecols=["product_id", "category"])
        parts = lines["price"].str.split(".", n=1, expand=True)
        lines = lines.assign(
            day=lines["timestamp"].str.slice(0, 10),
            revenue_cents=lines["quantity"]
            * (parts[0].astype("int64") * 100 + parts[1].str.ljust(2, "0").astype("int64")),
        )
        joined = lines.merge(cats, on="product_id")
        revenue = joined.groupby(["category", "day"])["revenue_cents"].sum().reset_index()
        revenue.to_parquet(dst, write_index=False)


if __name__ == "__main__":
    main()
