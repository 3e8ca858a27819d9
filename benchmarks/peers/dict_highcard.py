"""Single-process Python baseline for the high-cardinality sum: one dict over all lines.

usage: python -m benchmarks.peers.dict_highcard INPUT OUTPUT_FILE
"""

from __future__ import annotations

import sys
from collections import defaultdict


def main() -> None:
    src, dst = sys.argv[1], sys.argv[2]
    sums: defaultdict[str, int] = defaultdict(int)
    with open(src, encoding="utf-8") as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("\t")
            sums[key] += int(value)
    with open(dst, "w", encoding="utf-8") as out:
        out.writelines(f"{key}\t{total}\n" for key, total in sums.items())


if __name__ == "__main__":
    main()
