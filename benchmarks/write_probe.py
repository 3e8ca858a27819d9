"""How fast this machine writes 1GB into the page cache, right after freeing memory and after
pauses: a VM whose balloon reports free pages to its host is slow to touch them again.

usage: python -m benchmarks.write_probe [DIRECTORY]   (default: the temporary directory)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

CHUNK = 4 << 20
TOTAL = 1 << 30


def write_once(path: str) -> float:
    """Seconds to write `TOTAL` bytes to a new file at `path` (not synced), then delete it."""
    chunk = os.urandom(CHUNK)
    started = time.perf_counter()
    with open(path, "wb", buffering=0) as f:
        for _ in range(TOTAL // CHUNK):
            f.write(chunk)
    seconds = time.perf_counter() - started
    os.unlink(path)
    return seconds


def main() -> None:
    directory = sys.argv[1] if len(sys.argv) > 1 else tempfile.gettempdir()
    path = os.path.join(directory, f"write-probe-{os.getpid()}.bin")
    for pause in (0, 0, 5, 0, 15, 0):
        time.sleep(pause)
        print(f"after a {pause:2d} s pause: 1GB written in {write_once(path):.2f} s", flush=True)


if __name__ == "__main__":
    main()
