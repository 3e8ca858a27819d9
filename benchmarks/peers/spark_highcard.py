"""PySpark high-cardinality sum, RDD form: textFile, map to (key, int), reduceByKey(add).

usage: python -m benchmarks.peers.spark_highcard INPUT OUTPUT_DIR WORKERS
"""

from __future__ import annotations

import operator
import sys

from benchmarks.peers.spark_session import session


def pair(line: str) -> tuple[str, int]:
    key, _, value = line.partition("\t")
    return key, int(value)


def main() -> None:
    src, dst, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    spark = session(workers)
    sums = spark.sparkContext.textFile(src).map(pair).reduceByKey(operator.add)
    sums.map(lambda kv: f"{kv[0]}\t{kv[1]}").saveAsTextFile(dst)
    spark.stop()


if __name__ == "__main__":
    main()
