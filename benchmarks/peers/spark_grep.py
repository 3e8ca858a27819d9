"""PySpark grep, RDD form: textFile, filter(re.search), saveAsTextFile.

usage: python -m benchmarks.peers.spark_grep PATTERN INPUT OUTPUT_DIR WORKERS
"""

from __future__ import annotations

import re
import sys

from benchmarks.peers.spark_session import session


def main() -> None:
    pattern, src, dst, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    spark = session(workers)
    search = re.compile(pattern).search
    spark.sparkContext.textFile(src).filter(lambda line: search(line) is not None).saveAsTextFile(
        dst
    )
    spark.stop()


if __name__ == "__main__":
    main()
