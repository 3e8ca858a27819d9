"""The benchmark harness's measurement: peak PSS of a whole process tree, and its CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# A parent and a child each touch 120MB, both live together only from ~0.25 s to ~0.6 s, then
# the tree idles: a sampler that read PSS on a fixed once-a-second beat would miss the peak.
TREE = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import time; b = bytearray(120 << 20); b[::4096] = b'x' * len(b[::4096]); time.sleep(0.6)"])
time.sleep(0.25)
a = bytearray(120 << 20); a[::4096] = b"y" * len(a[::4096])
child.wait()
del a
time.sleep(1.2)
"""

PROBE = """
import json, sys
from benchmarks.measure import run
m = run([sys.executable, "-c", sys.argv[1]])
print(json.dumps({"wall": m.wall, "cpu": m.cpu, "peak": m.peak_mb, "rc": m.returncode}))
"""


def test_peak_memory_counts_the_whole_tree_at_its_high() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, TREE], cwd=REPO, capture_output=True, text=True, check=True
    )
    got = json.loads(done.stdout)
    assert got["rc"] == 0
    # Both 120MB buffers were live at once: the PSS read at that RSS high sees them.
    assert 240 <= got["peak"] < 400
    assert got["wall"] >= 1.2
    assert got["cpu"] > 0
