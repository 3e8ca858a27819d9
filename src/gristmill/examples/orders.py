"""Seeded orders and products tables (CSV) for the ETL benchmark.

`products.csv`: product_id, name, category (10,000 products in 50 categories).
`orders.csv` (or `orders.jsonl`): order_id, customer_id, product_id (Zipf popularity,
p(rank) ~ 1/rank^1.1), quantity (1-5), price (the product's list price, ``"12.34"``),
timestamp (ISO seconds over 90 days from 2026-01-01). The same seed and size give
byte-identical files. Vectorized with numpy; imports nothing from the engine, so the benchmarks
can feed any peer.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from typing import Any

from gristmill.examples.sized import write_sized

PRODUCTS = 10_000
CATEGORIES = 50
CUSTOMERS = 1_000_000
DAYS = 90
START = datetime.date(2026, 1, 1)
ROWS_PER_CHUNK = 100_000
ORDERS_HEADER = "order_id,customer_id,product_id,quantity,price,timestamp\n"
PRODUCTS_HEADER = "product_id,name,category\n"
_ADJECTIVES = ("red", "small", "smart", "classic", "eco", "steel", "soft", "quick")
_NOUNS = ("lamp", "chair", "kettle", "phone", "shirt", "clock", "table", "bottle", "pen", "bag")


def _list_prices(seed: int) -> Any:
    """Each product's price in cents (log-uniform, 1.00 to 999.99), fixed by `seed`."""
    import numpy as np

    rng = np.random.default_rng([seed, 1])
    return np.floor(np.exp(rng.uniform(np.log(100), np.log(99_999), PRODUCTS))).astype(np.int64)


def products_csv(seed: int = 0) -> str:
    """The products table as CSV text (header included).

    >>> products_csv().splitlines()[:2]
    ['product_id,name,category', '1,steel kettle 1,cat-42']
    """
    import numpy as np

    rng = np.random.default_rng([seed, 0])
    categories = rng.integers(0, CATEGORIES, PRODUCTS).tolist()
    adjectives = rng.integers(0, len(_ADJECTIVES), PRODUCTS).tolist()
    nouns = rng.integers(0, len(_NOUNS), PRODUCTS).tolist()
    rows = [
        f"{i + 1},{_ADJECTIVES[a]} {_NOUNS[n]} {i + 1},cat-{c:02d}\n"
        for i, (c, a, n) in enumerate(zip(categories, adjectives, nouns, strict=True))
    ]
    return PRODUCTS_HEADER + "".join(rows)


CSV_ROW = "{0},{1},{2},{3},{4},{5}\n"
JSONL_ROW = (  # price stays a string: JSON numbers would turn it into a float
    '{{"order_id": {0}, "customer_id": {1}, "product_id": {2}, "quantity": {3}, '
    '"price": "{4}", "timestamp": "{5}"}}\n'
)


def _orders_chunk(
    rng: Any, first_id: int, cdf: Any, popular: Any, prices: Any, *, row: str = CSV_ROW
) -> str:
    import numpy as np

    n = ROWS_PER_CHUNK
    product = popular[np.searchsorted(cdf, rng.random(n), side="right")]
    customer = rng.integers(1, CUSTOMERS + 1, n)
    quantity = rng.integers(1, 6, n)
    seconds = rng.integers(0, DAYS * 86_400, n)
    day, second = np.divmod(seconds, 86_400)
    cents = prices[product - 1]
    days = [(START + datetime.timedelta(days=d)).isoformat() for d in range(DAYS)]
    cols = zip(
        customer.tolist(),
        product.tolist(),
        quantity.tolist(),
        (cents // 100).tolist(),
        (cents % 100).tolist(),
        day.tolist(),
        second.tolist(),
        strict=True,
    )
    return "".join(
        row.format(
            first_id + i,
            c,
            p,
            q,
            f"{whole}.{frac:02d}",
            f"{days[d]}T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}",
        )
        for i, (c, p, q, whole, frac, d, s) in enumerate(cols)
    )


def generate_orders(directory: str, size_bytes: int, *, seed: int = 0, jsonl: bool = False) -> int:
    """Write ``products.csv`` and about `size_bytes` of ``orders.csv`` (whole rows) into
    `directory`; returns the orders file's size.

    With `jsonl`, the orders go to ``orders.jsonl`` instead, one JSON object per row (the same
    rows for the same seed, as far as the size allows).
    """
    import numpy as np

    os.makedirs(directory, exist_ok=True)
    products = os.path.join(directory, "products.csv")
    with open(f"{products}.tmp", "w", encoding="utf-8", newline="") as f:
        f.write(products_csv(seed))
    os.replace(f"{products}.tmp", products)
    weights = 1.0 / np.arange(1, PRODUCTS + 1, dtype=np.float64) ** 1.1
    cdf = np.cumsum(weights / weights.sum())
    cdf[-1] = 1.0
    # Popularity ranks map to shuffled product ids, so hot products spread over categories.
    popular = np.random.default_rng([seed, 2]).permutation(PRODUCTS) + 1
    prices = _list_prices(seed)
    rng = np.random.default_rng([seed, 3])
    path = os.path.join(directory, "orders.jsonl" if jsonl else "orders.csv")
    row = JSONL_ROW if jsonl else CSV_ROW

    def chunks() -> Iterator[bytes]:
        next_id = 1
        while True:
            data = _orders_chunk(rng, next_id, cdf, popular, prices, row=row).encode()
            next_id += data.count(b"\n")
            yield data

    header = b"" if jsonl else ORDERS_HEADER.encode()
    return write_sized(path, size_bytes, chunks(), header)
