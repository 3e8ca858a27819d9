"""A local[N] SparkSession that listens on 127.0.0.1 only, with the web UI off."""

from __future__ import annotations

from typing import Any


def session(workers: int) -> Any:
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master(f"local[{workers}]")
        .appName("gristmill-bench")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "4g")
        .getOrCreate()
    )
