"""PySpark DataFrame ETL: read.csv with a schema (price DECIMAL(12,2)), join, groupBy, parquet.

usage: python -m benchmarks.peers.spark_etl ORDERS PRODUCTS OUTPUT_DIR WORKERS
"""

from __future__ import annotations

import sys

from benchmarks.peers.spark_session import session


def main() -> None:
    orders, products, dst, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    from pyspark.sql import functions as F

    spark = session(workers)
    lines = spark.read.csv(
        orders,
        header=True,
        schema="order_id LONG, customer_id LONG, product_id LONG, quantity LONG, "
        "price DECIMAL(12,2), timestamp STRING",
    )
    cats = spark.read.csv(
        products, header=True, schema="product_id LONG, name STRING, category STRING"
    )
    revenue = (
        lines.join(cats, "product_id")
        .withColumn("day", F.substring("timestamp", 1, 10))
        .groupBy("category", "day")
        .agg(F.sum(F.col("quantity") * F.col("price")).alias("revenue"))
    )
    revenue.write.parquet(dst)
    spark.stop()


if __name__ == "__main__":
    main()
