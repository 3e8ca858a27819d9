"""PySpark TeraSort as its documentation suggests: binaryRecords, key by the first 10 bytes,
sortByKey (Spark's sampled RangePartitioner), each sorted partition written as raw records.

usage: python -m benchmarks.peers.spark_terasort INPUT_DIR OUTPUT_DIR WORKERS PARTITIONS
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

from benchmarks.peers.spark_session import session


def main() -> None:
    src, dst, workers, partitions = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    os.makedirs(dst)
    spark = session(workers)
    records = spark.sparkContext.binaryRecords(src, 100)
    ordered = records.map(lambda r: (bytes(r[:10]), bytes(r))).sortByKey(numPartitions=partitions)

    def write(index: int, pairs: Iterator[tuple[bytes, bytes]]) -> Iterator[int]:
        with open(os.path.join(dst, f"part-{index:05d}"), "wb") as f:
            f.writelines(record for _, record in pairs)
        yield index

    ordered.mapPartitionsWithIndex(write).count()
    spark.stop()


if __name__ == "__main__":
    main()
