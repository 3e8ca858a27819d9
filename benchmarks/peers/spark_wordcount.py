"""PySpark word count, RDD form: textFile, flatMap(split), map to (w, 1), reduceByKey(add).

usage: python -m benchmarks.peers.spark_wordcount INPUT OUTPUT_DIR WORKERS
"""

from __future__ import annotations

import operator
import sys

from benchmarks.peers.spark_session import session


def main() -> None:
    src, dst, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    spark = session(workers)
    words = spark.sparkContext.textFile(src).flatMap(str.split)
    counts = words.map(lambda w: (w, 1)).reduceByKey(operator.add)
    counts.map(lambda kv: f"{kv[0]}\t{kv[1]}").saveAsTextFile(dst)
    spark.stop()


if __name__ == "__main__":
    main()
