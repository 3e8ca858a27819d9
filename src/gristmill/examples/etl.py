"""The ETL example: revenue per (category, day) from orders joined with products, as Parquet.

Revenue is summed in integer cents (prices are parsed, never turned into floats), so every
engine's output can be compared exactly. Importable, so tests and benchmarks run what the CLI
runs.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gristmill as gm

if TYPE_CHECKING:
    import pyarrow as pa

ETL_FORMS = ("records", "columnar")


def price_cents(price: str) -> int:
    """``"12.34"`` as 1234 cents, exactly (at most two decimals).

    >>> price_cents("12.34"), price_cents("7"), price_cents("0.5")
    (1234, 700, 50)
    """
    whole, _, frac = price.partition(".")
    if len(frac) > 2:
        raise ValueError(f"price with more than two decimals: {price!r}")
    return int(whole) * 100 + int(frac.ljust(2, "0") or 0)


def order_line(row: dict[str, str]) -> tuple[str, tuple[str, int]]:
    """An order row as ``(product_id, (day, cents))``; the day is the timestamp's date."""
    cents = int(row["quantity"]) * price_cents(row["price"])
    return row["product_id"], (row["timestamp"][:10], cents)


def product_category(row: dict[str, str]) -> tuple[str, str]:
    return row["product_id"], row["category"]


def category_day(pair: tuple[str, tuple[tuple[str, int], str]]) -> tuple[tuple[str, str], int]:
    _, ((day, cents), category) = pair
    return (category, day), cents


def revenue_row(pair: tuple[tuple[str, str], int]) -> dict[str, Any]:
    (category, day), cents = pair
    return {"category": category, "day": day, "revenue_cents": cents}


def etl(
    orders: Sequence[str] | str, products: Sequence[str] | str, form: str = "records"
) -> gm.Dataset:
    """Rows ``{category, day, revenue_cents}``: sum of quantity x price per category and day.

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> _ = open(os.path.join(d, "o.csv"), "w").write(
    ...     "order_id,product_id,quantity,price,timestamp\\n"
    ...     "1,7,2,1.50,2026-01-01T10:00:00\\n2,7,1,1.50,2026-01-01T11:00:00\\n")
    >>> _ = open(os.path.join(d, "p.csv"), "w").write("product_id,category\\n7,toys\\n")
    >>> etl(os.path.join(d, "o.csv"), os.path.join(d, "p.csv")).collect(
    ...     config=gm.Config(executor="inline", progress=False))
    [{'category': 'toys', 'day': '2026-01-01', 'revenue_cents': 450}]
    """
    if form == "columnar":
        return etl_columnar(orders, products)
    if form != "records":
        raise ValueError(f"unknown ETL form {form!r}; choose from {ETL_FORMS}")
    lines = gm.read_csv(orders).map(order_line)
    categories = gm.read_csv(products).map(product_category)
    joined = lines.join(categories).map(category_day)
    return joined.reduce_by_key(operator.add).map(revenue_row)


@dataclass(frozen=True)
class RevenueByCategoryDay:
    """A batch of typed order rows -> revenue per (category, day) of that batch, in C++.

    `products` (product_id, category) travels with the function to every task: the small side
    of the join broadcast, as Spark's broadcast hash join does.
    """

    products: pa.Table

    def __call__(self, orders: pa.Table) -> pa.Table:
        import pyarrow as pa
        import pyarrow.compute as pc

        lines = orders.select(["product_id", "quantity", "price", "timestamp"])
        joined = lines.join(self.products, "product_id", use_threads=False)
        # price is a decimal with two places, parsed as a double: x100 and round is exact.
        cents = pc.cast(pc.round(pc.multiply(joined["price"], 100)), pa.int64())
        table = pa.table(
            {
                "category": joined["category"],
                "day": pc.cast(joined["timestamp"], pa.date32()),
                "cents": pc.multiply(joined["quantity"], cents),
            }
        )
        sums = table.group_by(["category", "day"], use_threads=False).aggregate([("cents", "sum")])
        return sums.set_column(
            sums.schema.get_field_index("day"), "day", pc.cast(sums["day"], pa.string())
        )


def batch_pair(row: dict[str, Any]) -> tuple[tuple[str, str], int]:
    return (row["category"], row["day"]), row["cents_sum"]


def etl_columnar(orders: Sequence[str] | str, products: Sequence[str] | str) -> gm.Dataset:
    """`etl` with pyarrow doing the work: typed CSV batches, a broadcast hash join and a
    per-batch group-by in C++; only each batch's (category, day) sums become Python records.

    The products table is read (by a small gristmill job) when this is called.
    """
    import pyarrow as pa

    inline = gm.Config(executor="inline", progress=False)
    dims = (
        gm.read_csv(products, batch_format="pyarrow").map(product_category).collect(config=inline)
    )
    table = pa.table({"product_id": [k for k, _ in dims], "category": [c for _, c in dims]})
    batches = gm.read_csv(orders, batch_format="pyarrow").map_batches(
        RevenueByCategoryDay(table), batch_format="pyarrow"
    )
    return batches.map(batch_pair).reduce_by_key(operator.add).map(revenue_row)
