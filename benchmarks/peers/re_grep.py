"""Single-process Python grep: ``re.search`` on every line of the file.

usage: python -m benchmarks.peers.re_grep PATTERN INPUT OUTPUT_FILE
"""

from __future__ import annotations

import re
import sys


def main() -> None:
    pattern, src, dst = sys.argv[1], sys.argv[2], sys.argv[3]
    search = re.compile(pattern).search
    with open(src, encoding="utf-8") as f, open(dst, "w", encoding="utf-8") as out:
        out.writelines(line for line in f if search(line))


if __name__ == "__main__":
    main()
