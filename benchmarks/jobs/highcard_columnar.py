"""High-cardinality sum, columnar: ``key<TAB>value`` lines to ``key<TAB>sum``, in pyarrow.

The same job as `highcard.py`, written as `map_batches` over pyarrow tables of lines: each
batch is split into ``key`` and ``value`` columns in C++, and ``reduce_by_key(operator.add)``
sums the integer values as tables on both sides of the shuffle.

usage: gristmill run [--workers N] benchmarks/jobs/highcard_columnar.py INPUT OUTPUT
"""

from __future__ import annotations

import operator
import sys

import pyarrow as pa
import pyarrow.compute as pc

import gristmill as gm


def pairs(lines: pa.Table) -> pa.Table:
    """A table of ``key<TAB>value`` lines as ``key`` and ``value`` (int64) columns."""
    fields = pc.split_pattern(lines["item"], "\t", max_splits=1)
    value = pc.cast(pc.list_element(fields, 1), pa.int64())
    return pa.table({"key": pc.list_element(fields, 0), "value": value})


if __name__ == "__main__":
    src, dst = sys.argv[1], sys.argv[2]
    lines = gm.read_text(src, batch_format="pyarrow")
    lines.map_batches(pairs, batch_format="pyarrow").reduce_by_key(operator.add).write_text(dst)
