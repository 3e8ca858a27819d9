"""High-cardinality sum: ``key<TAB>value`` lines to ``key<TAB>sum`` with reduce_by_key.

usage: gristmill run [--workers N] benchmarks/jobs/highcard.py INPUT OUTPUT
"""

from __future__ import annotations

import operator
import sys

import gristmill as gm


def pair(line: str) -> tuple[str, int]:
    key, _, value = line.partition("\t")
    return key, int(value)


if __name__ == "__main__":
    src, dst = sys.argv[1], sys.argv[2]
    gm.read_text(src).map(pair).reduce_by_key(operator.add).write_text(dst)
