"""The benchmark workloads as a user runs them: ordersgen + etl (Parquet), kvgen + highcard job.

Oracles are plain Python over the generated CSV/TSV (decimal.Decimal for prices) and pyarrow
reading the committed Parquet files.
"""

from __future__ import annotations

import collections
import csv
import datetime
import decimal
import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from gm_cli import run_cli

import gristmill as gm
from gristmill.examples.kvgen import generate_pairs, keys_for

REPO = Path(__file__).resolve().parents[2]
SMALL = ["--workers", "2", "--split-size", "256KB", "--no-progress"]


def _oracle_revenue(orders: Path, products: Path) -> dict[tuple[str, str], int]:
    with products.open(newline="") as f:
        category = {r["product_id"]: r["category"] for r in csv.DictReader(f)}
    revenue: dict[tuple[str, str], int] = collections.defaultdict(int)
    with orders.open(newline="") as f:
        for r in csv.DictReader(f):
            cents = decimal.Decimal(r["price"]) * 100 * int(r["quantity"])
            assert cents == int(cents)
            revenue[category[r["product_id"]], r["timestamp"][:10]] += int(cents)
    return dict(revenue)


def test_ordersgen_is_seeded_and_well_formed(tmp_path: Path) -> None:
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        done = run_cli("example", "ordersgen", "300KB", "-o", str(tmp_path / name), "--seed", seed)
        assert done.returncode == 0, done.stderr
    a, b, c = ((tmp_path / n / "orders.csv").read_bytes() for n in "abc")
    assert a == b and a != c
    assert abs(len(a) - 300 * 1024) < 100 and a.endswith(b"\n")
    with (tmp_path / "a" / "products.csv").open(newline="") as f:
        products = list(csv.DictReader(f))
    assert len(products) == 10_000
    assert 40 <= len({p["category"] for p in products}) <= 50
    ids = {p["product_id"] for p in products}
    with (tmp_path / "a" / "orders.csv").open(newline="") as f:
        orders = list(csv.DictReader(f))
    assert [int(o["order_id"]) for o in orders] == list(range(1, len(orders) + 1))
    start = datetime.datetime(2026, 1, 1)
    for o in orders:
        assert o["product_id"] in ids and 1 <= int(o["quantity"]) <= 5
        whole, frac = o["price"].split(".")
        assert whole.isdigit() and len(frac) == 2 and frac.isdigit()
        when = datetime.datetime.fromisoformat(o["timestamp"])
        assert start <= when < start + datetime.timedelta(days=90)
    top = collections.Counter(o["product_id"] for o in orders).most_common(1)[0][1]
    assert top > 20 * len(orders) / 10_000  # Zipf: the hottest product far above the mean
    done = run_cli(
        "example", "ordersgen", "300KB", "-o", str(tmp_path / "j"), "--seed", "3", "--jsonl"
    )
    assert done.returncode == 0, done.stderr
    as_json = [json.loads(line) for line in (tmp_path / "j" / "orders.jsonl").open()]
    same = [{k: str(v) for k, v in row.items()} for row in as_json]
    assert same == orders[: len(same)] and len(same) < len(orders)  # JSON costs more per row


@pytest.mark.parametrize("form", ["records", "columnar"])
def test_etl_writes_exact_revenue_per_category_and_day(tmp_path: Path, form: str) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    assert run_cli("example", "ordersgen", "1MB", "-o", str(data)).returncode == 0
    orders, products = data / "orders.csv", data / "products.csv"
    args = ["-o", str(out), "--form", form, *SMALL]
    done = run_cli("example", "etl", str(orders), str(products), *args)
    assert done.returncode == 0, done.stderr
    parts = sorted(out.glob("part-*.parquet"))
    assert len(parts) > 1  # several splits, so several reduce partitions
    got = {}
    for part in parts:
        table = pq.read_table(part)
        assert table.column_names == ["category", "day", "revenue_cents"]
        for row in table.to_pylist():
            key = (row["category"], row["day"])
            assert key not in got
            got[key] = row["revenue_cents"]
    assert got == _oracle_revenue(orders, products)
    cfg = gm.Config(executor="inline", progress=False, scratch_dir=str(tmp_path / "s"))
    back = gm.read_parquet(str(out)).collect(config=cfg)  # gristmill reads its output back
    assert {(r["category"], r["day"]): r["revenue_cents"] for r in back} == got
    assert len(back) == len(got)


def test_highcard_job_sums_every_key(tmp_path: Path) -> None:
    assert keys_for(1024**3) == 10_000_000 and keys_for(100 * 1024**2) == 976_562
    src, out = tmp_path / "kv.tsv", tmp_path / "out"
    written = generate_pairs(str(src), 500_000, seed=1, keys=5000)
    assert written == src.stat().st_size
    again = tmp_path / "again.tsv"
    generate_pairs(str(again), 500_000, seed=1, keys=5000)
    assert again.read_bytes() == src.read_bytes()
    expected: dict[str, int] = collections.defaultdict(int)
    for line in src.read_text().splitlines():
        key, value = line.split("\t")
        expected[key] += int(value)
    assert 4900 < len(expected) <= 5000
    job = REPO / "benchmarks" / "jobs" / "highcard.py"
    done = run_cli("run", *SMALL, str(job), str(src), str(out))
    assert done.returncode == 0, done.stderr
    got = {}
    for part in sorted(out.glob("part-*")):
        for line in part.read_text().splitlines():
            key, total = line.split("\t")
            got[key] = int(total)
    assert got == expected
    assert len(list(out.glob("part-*"))) > 1
    assert os.path.exists(out / "_SUCCESS")


@pytest.mark.parametrize("stamp", ["2026-01-0\u00e9T10:00:00", "\u00e9\u00e9-01-01T10", "2026-1-1"])
def test_columnar_etl_names_a_timestamp_that_does_not_start_with_a_day(stamp: str) -> None:
    import pyarrow as pa

    from gristmill.examples.etl import RevenueByCategoryDay

    products = pa.table({"product_id": [7], "category": ["toys"]})
    orders = pa.table(
        {
            "product_id": [7, 7],
            "quantity": [1, 1],
            "price": [1.0, 1.0],
            "timestamp": pa.array([b"2026-01-01T00:00:00", stamp.encode()], pa.binary()),
        }
    )
    with pytest.raises(ValueError, match="must start with a YYYY-MM-DD day") as caught:
        RevenueByCategoryDay(products)(orders)
    assert repr(stamp.encode()[:10]) in str(caught.value)


def test_columnar_etl_batch_drops_unknown_products_and_rejects_duplicate_ids(
    tmp_path: Path,
) -> None:
    import pyarrow as pa

    from gristmill.examples.etl import RevenueByCategoryDay, etl_columnar

    products = pa.table({"product_id": [7, 8, 9], "category": ["toys", "food", "toys"]})
    rows = [  # (product_id, quantity, price, timestamp)
        (7, 2, 1.5, "2026-01-01T10:00:00"),
        (9, 1, 0.25, "2026-01-01T23:59:59"),
        (8, 3, 2.0, "2026-01-02T00:00:00"),
        (5, 9, 9.99, "2026-01-01T10:00:00"),  # no such product: an inner join drops it
        (7, 1, 1.5, "2026-01-02T08:00:00"),
    ]
    orders = pa.table(
        {
            "product_id": [r[0] for r in rows],
            "quantity": [r[1] for r in rows],
            "price": [r[2] for r in rows],
            "timestamp": pa.array([r[3].encode() for r in rows], pa.binary()),  # as read
        }
    )
    category = {7: "toys", 8: "food", 9: "toys"}
    want: collections.Counter[tuple[str, str]] = collections.Counter()
    for pid, qty, price, ts in rows:
        if pid in category:
            want[(category[pid], ts[:10])] += qty * round(price * 100)
    got = RevenueByCategoryDay(products)(orders).to_pylist()
    assert {(r["category"], r["day"]): r["cents_sum"] for r in got} == want
    assert len(got) == len(want)
    dup = tmp_path / "p.csv"
    dup.write_text("product_id,category\n7,toys\n7,food\n")
    with pytest.raises(ValueError, match="product_id is not unique"):
        etl_columnar(str(tmp_path / "o.csv"), str(dup))
