"""Two-process baseline: multiprocessing.Pool, each process counts a line-aligned byte range
with collections.Counter, the parent merges the counters. The floor for plain Python code.

usage: python -m benchmarks.peers.mp_wordcount INPUT OUTPUT_FILE [PROCESSES]
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from multiprocessing import Pool


def count_range(args: tuple[str, int, int]) -> Counter[str]:
    path, start, end = args
    counts: Counter[str] = Counter()
    with open(path, "rb") as f:
        if start:
            f.seek(start - 1)
            f.readline()  # the previous range owns the line that straddles `start`
        pos = f.tell()
        while pos < end:
            lines = f.readlines(1 << 20)
            if not lines:
                break
            for line in lines:
                if pos >= end:  # this line starts in the next range
                    break
                pos += len(line)
                counts.update(line.decode("utf-8").split())
    return counts


def main() -> None:
    src, dst = sys.argv[1], sys.argv[2]
    procs = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    size = os.path.getsize(src)
    step = -(-size // procs)
    ranges = [(src, i * step, min(size, (i + 1) * step)) for i in range(procs)]
    with Pool(procs) as pool:
        parts = pool.map(count_range, ranges)
    total = parts[0]
    for part in parts[1:]:
        total.update(part)
    with open(dst, "w", encoding="utf-8") as out:
        out.writelines(f"{word}\t{n}\n" for word, n in total.items())


if __name__ == "__main__":
    main()
