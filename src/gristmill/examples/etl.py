"""The ETL example: revenue per (category, day) from orders joined with products, as Parquet.

Revenue is summed in integer cents (prices are parsed, never turned into floats), so every
engine's output can be compared exactly. Importable, so tests and benchmarks run what the CLI
runs.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property
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

    `products` (product_id, category, unique ids) travels with the function to every task: the
    small side of the join broadcast, as Spark's broadcast hash join does. Each order looks up
    its product's position and category code in that table (a hash lookup, not a general join),
    and rows are summed per (category code, day): integer keys, decoded once per group.
    """

    products: pa.Table

    @cached_property
    def categories(self) -> pa.DictionaryArray:
        """Each product's category as a code into the distinct categories: encoded once per
        task (a task calls this function once per batch), not once per batch."""
        return self.products["category"].combine_chunks().dictionary_encode()

    def __call__(self, orders: pa.Table) -> pa.Table:
        import pyarrow as pa
        import pyarrow.compute as pc

        categories = self.categories
        at = pc.index_in(orders["product_id"], value_set=self.products["product_id"])
        code = categories.indices.take(at)  # null where no product matches: dropped below
        # price is a decimal with two places, parsed as a double: x100 and round is exact.
        cents = pc.cast(pc.round(pc.multiply(orders["price"], 100)), pa.int64())
        table = pa.table(
            {
                "code": code,
                # The day is the timestamp's first 10 bytes, as the Polars and DuckDB peers
                # take it: no date parsed per row (5% of a task), one check per group below.
                "day": pc.binary_slice(orders["timestamp"], 0, 10),
                "cents": pc.multiply(orders["quantity"], cents),
            }
        )
        if code.null_count:  # the inner join: orders of unknown products drop out
            table = table.filter(pc.is_valid(code))  # (a copy of every column: 6% of a task)
        sums = table.group_by(["code", "day"], use_threads=False).aggregate([("cents", "sum")])
        return pa.table(
            {
                "category": categories.dictionary.take(sums["code"]),
                "day": _days(sums["day"]),
                "cents_sum": sums["cents_sum"],
            }
        )


def _days(prefixes: pa.ChunkedArray) -> pa.Array:
    """Each group's 10 timestamp bytes as its YYYY-MM-DD day, checked once per group: a
    timestamp that does not start with a date fails the job, naming it (a character cut in
    two, or ``éééé-01-01``, is no day)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return pc.cast(pc.cast(pc.cast(prefixes, pa.string()), pa.date32()), pa.string())
    except pa.ArrowInvalid as exc:
        bad = [p for p in prefixes.to_pylist() if not _is_day(p)]
        raise ValueError(
            f"order timestamps must start with a YYYY-MM-DD day, got {bad[:3]!r} ({exc})"
        ) from None


def _is_day(prefix: bytes) -> bool:
    try:
        return len(prefix) == 10 and bool(date.fromisoformat(prefix.decode("ascii")))
    except ValueError:
        return False


def batch_pair(row: dict[str, Any]) -> tuple[tuple[str, str], int]:
    return (row["category"], row["day"]), row["cents_sum"]


def etl_columnar(orders: Sequence[str] | str, products: Sequence[str] | str) -> gm.Dataset:
    """`etl` with pyarrow doing the work: typed CSV batches of the needed columns, a broadcast
    lookup of each order's category and a per-batch group-by in C++; only each batch's
    (category, day) sums become Python records. A timestamp must start with a YYYY-MM-DD
    day (the records form takes its first 10 characters, whatever they are).

    The products table is read (by a small gristmill job) when this is called.
    """
    import pyarrow as pa

    inline = gm.Config(executor="inline", progress=False)
    dims = (
        gm.read_csv(products, batch_format="pyarrow").map(product_category).collect(config=inline)
    )
    ids = [k for k, _ in dims]
    if len(set(ids)) != len(ids):
        # A join would pair an order with every row of its product; the lookup takes the first.
        raise ValueError(f"{products}: product_id is not unique, cannot broadcast it as a lookup")
    table = pa.table({"product_id": ids, "category": [c for _, c in dims]})
    wanted = ["product_id", "quantity", "price", "timestamp"]  # the others are never parsed
    text = {"timestamp": pa.binary()}  # the bytes: only a slice of them is used
    batches = gm.read_csv(orders, batch_format="pyarrow", columns=wanted, types=text).map_batches(
        RevenueByCategoryDay(table), batch_format="pyarrow"
    )
    return batches.map(batch_pair).reduce_by_key(operator.add).map(revenue_row)
