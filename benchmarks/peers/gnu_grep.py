"""GNU grep baseline: ``LC_ALL=C grep -E PATTERN INPUT > OUTPUT`` (no match is not a failure).

usage: python -m benchmarks.peers.gnu_grep PATTERN INPUT OUTPUT_FILE
"""

from __future__ import annotations

import os
import subprocess
import sys


def main() -> None:
    pattern, src, dst = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(dst, "wb") as out:
        done = subprocess.run(
            ["grep", "-E", "--", pattern, src],
            stdout=out,
            env={**os.environ, "LC_ALL": "C"},
            check=False,
        )
    sys.exit(0 if done.returncode in (0, 1) else done.returncode)  # 1: no line matched


if __name__ == "__main__":
    main()
