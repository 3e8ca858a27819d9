"""PySpark word count, DataFrame form: read.text, explode(split(value, ' ')), drop empty
words, groupBy("word").count(), written as `word<TAB>count` text lines (no header).

usage: python -m benchmarks.peers.spark_df_wordcount INPUT OUTPUT_DIR WORKERS
"""

from __future__ import annotations

import sys

from benchmarks.peers.spark_session import session


def main() -> None:
    from pyspark.sql import functions as F

    src, dst, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    spark = session(workers)
    words = spark.read.text(src).select(F.explode(F.split("value", " ")).alias("word"))
    counts = words.filter(F.col("word") != "").groupBy("word").count()
    counts.select(F.concat_ws("\t", "word", F.col("count").cast("string"))).write.text(dst)
    spark.stop()


if __name__ == "__main__":
    main()
