"""The ETL, grep and high-cardinality workloads of `benchmarks.run`: data, tools, checks.

Each `*_tools` function lists gristmill and its peers on one input; each `*_digest` turns a
tool's output files into a sha256 that must equal the baseline's, so a fast wrong answer
cannot count. Kept apart from `run.py` so the harness only gains a dispatch.
"""

from __future__ import annotations

import decimal
import hashlib
import os
import subprocess
import sys
from typing import Any

from gristmill.config import parse_size

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
GRISTMILL = os.path.join(os.path.dirname(sys.executable), "gristmill")


def _sha(lines: list[str]) -> str:
    lines.sort()
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


# -- ETL: orders joined with products, revenue per (category, day) as Parquet ------------------


def orders_data(size: str) -> tuple[str, str]:
    """A seeded orders/products directory (``gristmill example ordersgen``) of `size` orders."""
    os.makedirs(DATA, exist_ok=True)
    path = os.path.join(DATA, f"orders-{size}")
    if not os.path.exists(os.path.join(path, "orders.csv")):
        print(f"generating {size} of orders at {path}", flush=True)
        cmd = [GRISTMILL, "example", "ordersgen", size, "-o", path, "--seed", "42"]
        subprocess.run(cmd, check=True, capture_output=True)
    return os.path.join(path, "orders.csv"), os.path.join(path, "products.csv")


def cents(value: Any, column: str) -> int:
    """A revenue value as exact integer cents: ints are cents already (``revenue_cents``);
    decimals and floats are currency units (``revenue``) and must round-trip exactly.

    >>> cents(decimal.Decimal("12.34"), "revenue"), cents(12.34, "revenue")
    (1234, 1234)
    """
    if column == "revenue_cents":
        if not isinstance(value, int):
            raise ValueError(f"revenue_cents must be an integer, got {value!r}")
        return value
    if isinstance(value, decimal.Decimal):
        scaled = value * 100
        if scaled != scaled.to_integral_value():
            raise ValueError(f"revenue {value} is not a whole number of cents")
        return int(scaled)
    if isinstance(value, float):
        scaled_float = value * 100
        rounded = round(scaled_float)
        if abs(scaled_float - rounded) > 0.01:  # a float sum far from a cent is a wrong sum
            raise ValueError(f"revenue {value!r} is not a whole number of cents")
        return rounded
    raise ValueError(f"unexpected revenue type {type(value).__name__}: {value!r}")


def parquet_digest(paths: list[str]) -> str:
    """sha256 of sorted ``category<TAB>day<TAB>revenue_cents`` lines of all Parquet `paths`."""
    if not paths:
        return "WRONG"
    try:
        return _sha(_revenue_lines(paths))
    except (ValueError, KeyError, OSError) as exc:  # pyarrow's errors derive from these
        print(f"unreadable or inexact output: {exc}", file=sys.stderr)
        return "WRONG"


def _revenue_lines(paths: list[str]) -> list[str]:
    import pyarrow.parquet as pq

    lines: list[str] = []
    for path in paths:
        table = pq.read_table(path)
        column = "revenue_cents" if "revenue_cents" in table.column_names else "revenue"
        rows = zip(
            table.column("category").to_pylist(),
            table.column("day").to_pylist(),
            table.column(column).to_pylist(),
            strict=True,
        )
        for category, day, value in rows:
            day_text = day.isoformat() if hasattr(day, "isoformat") else str(day)
            lines.append(f"{category}\t{day_text}\t{cents(value, column)}")
    return lines


# -- tools ------------------------------------------------------------------------------------

GREP_PATTERN = "q[aeiou]x"  # matches about 1% of the lines of the seeded corpus
BASELINE_MAX = 2 * 1024**3  # single-process baselines past this take too long to repeat


def lines_digest(paths: list[str]) -> str:
    """sha256 of all lines of `paths`, sorted (order-free outputs compare equal)."""
    lines: list[bytes] = []
    for path in paths:
        with open(path, "rb") as f:
            lines += f.read().splitlines()
    lines.sort()
    return hashlib.sha256(b"\n".join(lines)).hexdigest()


def kv_data(size: str) -> str:
    """A seeded ``key<TAB>value`` file of `size` (see `gristmill.examples.kvgen`)."""
    from gristmill.examples.kvgen import generate_pairs, keys_for

    os.makedirs(DATA, exist_ok=True)
    path = os.path.join(DATA, f"kv-{size}.tsv")
    if not os.path.exists(path):
        keys = keys_for(parse_size(size))
        print(f"generating {size} of key/value lines ({keys} keys) at {path}", flush=True)
        generate_pairs(path, parse_size(size), seed=42)
    return path


def _py(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", f"benchmarks.peers.{module}", *args]


def _gm(*args: str, workers: int) -> list[str]:
    return [GRISTMILL, *args, "--workers", str(workers), "--no-progress"]


def etl_tools(
    orders: str, products: str, out: str, *, workers: int, size: str, peer: Any, tool: Any
) -> list[Any]:
    """The ETL tools, baseline first; `peer` and `tool` are `run.peer` and `run.Tool`."""
    w = str(workers)
    base_out = os.path.join(out, "python.parquet")
    base = tool(
        "python csv + dict (1 process)", _py("python_etl", orders, products, base_out), [base_out]
    )
    if parse_size(size) > BASELINE_MAX:
        base = tool(base.name, None, "skipped above 2GB (single process)")
    gm_out = os.path.join(out, "gristmill")
    gm = _gm("example", "etl", orders, products, "-o", gm_out, workers=workers)
    col_out = os.path.join(out, "gristmill-columnar")
    col = _gm(
        "example", "etl", orders, products, "-o", col_out, "--form", "columnar", workers=workers
    )
    polars_out = os.path.join(out, "polars.parquet")
    duck_out = os.path.join(out, "duckdb.parquet")
    spark_out = os.path.join(out, "spark")
    dask_out = os.path.join(out, "dask")
    return [
        base,
        tool(f"gristmill records ({w} workers)", gm, os.path.join(gm_out, "part-*.parquet")),
        tool(f"gristmill columnar ({w} workers)", col, os.path.join(col_out, "part-*.parquet")),
        peer("polars (lazy)", "polars", "polars_etl", [orders, products, polars_out], [polars_out]),
        peer(
            f"duckdb ({w} threads)",
            "duckdb",
            "duckdb_etl",
            [orders, products, duck_out, w],
            [duck_out],
        ),
        peer(
            f"pyspark DataFrame (local[{w}])",
            "pyspark",
            "spark_etl",
            [orders, products, spark_out, w],
            os.path.join(spark_out, "part-*.parquet"),
        ),
        peer(
            f"dask dataframe ({w} workers)",
            "distributed",
            "dask_etl",
            [orders, products, dask_out, w],
            os.path.join(dask_out, "*.parquet"),
        ),
    ]


def grep_tools(data: str, out: str, *, workers: int, size: str, peer: Any, tool: Any) -> list[Any]:
    """The grep tools (pattern `GREP_PATTERN`), GNU grep first as the baseline."""
    w = str(workers)
    grep_out = os.path.join(out, "grep.txt")
    re_out = os.path.join(out, "re.txt")
    gm_out = os.path.join(out, "gristmill")
    gm = _gm("example", "grep", data, "-o", gm_out, "--pattern", GREP_PATTERN, workers=workers)
    col_out = os.path.join(out, "gristmill-columnar")
    col = _gm(
        "example",
        "grep",
        data,
        "-o",
        col_out,
        "--pattern",
        GREP_PATTERN,
        "--form",
        "columnar",
        workers=workers,
    )
    python_re = tool("python re (1 process)", _py("re_grep", GREP_PATTERN, data, re_out), [re_out])
    if parse_size(size) > BASELINE_MAX:
        python_re = tool(python_re.name, None, "skipped above 2GB (single process)")
    spark_out = os.path.join(out, "spark")
    return [
        tool("GNU grep -E (LC_ALL=C)", _py("gnu_grep", GREP_PATTERN, data, grep_out), [grep_out]),
        python_re,
        tool(f"gristmill ({w} workers)", gm, os.path.join(gm_out, "part-*")),
        tool(f"gristmill columnar ({w} workers)", col, os.path.join(col_out, "part-*")),
        peer(
            f"pyspark RDD filter (local[{w}])",
            "pyspark",
            "spark_grep",
            [GREP_PATTERN, data, spark_out, w],
            os.path.join(spark_out, "part-*"),
        ),
    ]


def highcard_tools(
    data: str, out: str, *, workers: int, size: str, peer: Any, tool: Any
) -> list[Any]:
    """The high-cardinality reduce_by_key tools, the single-process dict first."""
    w = str(workers)
    dict_out = os.path.join(out, "dict.txt")
    base = tool("python dict (1 process)", _py("dict_highcard", data, dict_out), [dict_out])
    if parse_size(size) > BASELINE_MAX:
        base = tool(base.name, None, "skipped above 2GB (single process)")
    gm_out = os.path.join(out, "gristmill")
    job = os.path.join(HERE, "jobs", "highcard.py")
    gm = [GRISTMILL, "run", "--workers", w, "--no-progress", job, data, gm_out]
    col_out = os.path.join(out, "gristmill-columnar")
    col_job = os.path.join(HERE, "jobs", "highcard_columnar.py")
    col = [GRISTMILL, "run", "--workers", w, "--no-progress", col_job, data, col_out]
    polars_out = os.path.join(out, "polars.tsv")
    duck_out = os.path.join(out, "duckdb.tsv")
    spark_out = os.path.join(out, "spark")
    return [
        base,
        tool(f"gristmill reduce_by_key ({w} workers)", gm, os.path.join(gm_out, "part-*")),
        tool(f"gristmill columnar ({w} workers)", col, os.path.join(col_out, "part-*")),
        peer("polars", "polars", "polars_highcard", [data, polars_out], [polars_out]),
        peer(f"duckdb ({w} threads)", "duckdb", "duckdb_highcard", [data, duck_out, w], [duck_out]),
        peer(
            f"pyspark RDD reduceByKey (local[{w}])",
            "pyspark",
            "spark_highcard",
            [data, spark_out, w],
            os.path.join(spark_out, "part-*"),
        ),
    ]
