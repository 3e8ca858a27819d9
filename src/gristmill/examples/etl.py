"""The ETL example: revenue per (category, day) from orders joined with products, as Parquet.

Revenue is summed in integer cents (prices are parsed, never turned into floats), so every
engine's output can be compared exactly. Importable, so tests and benchmarks run what the CLI
runs.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import gristmill as gm


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


def etl(orders: Sequence[str] | str, products: Sequence[str] | str) -> gm.Dataset:
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
    lines = gm.read_csv(orders).map(order_line)
    categories = gm.read_csv(products).map(product_category)
    joined = lines.join(categories).map(category_day)
    return joined.reduce_by_key(operator.add).map(revenue_row)
