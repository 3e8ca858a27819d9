"""Single-process Python baseline: collections.Counter over `line.split()`.

usage: python -m benchmarks.peers.counter_wordcount INPUT OUTPUT_FILE
"""

from __future__ import annotations

import sys
from collections import Counter


def main() -> None:
    src, dst = sys.argv[1], sys.argv[2]
    counts: Counter[str] = Counter()
    with open(src, encoding="utf-8") as f:
        for line in f:
            counts.update(line.split())
    with open(dst, "w", encoding="utf-8") as out:
        out.writelines(f"{word}\t{n}\n" for word, n in counts.items())


if __name__ == "__main__":
    main()
