"""Peak worker memory stays within 1.5x the budget plus interpreter overhead, measured via /proc.

Each job runs twice through the CLI: on a tiny input (what a worker costs doing nothing much:
the interpreter, numpy, the engine) and on an input many times the budget. Every worker
process's resident set is sampled throughout; the large run's peak may exceed the tiny run's
by at most 1.5x the budget.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from gm_cli import GRISTMILL

BUDGET = 32 * 1024**2

HOT_KEY_JOB = """
import sys
import gristmill as gm

def pair(word):
    return ("hot" if hash(word) % 10 else word, 1)   # 90% of records share one key

def count(values):
    return sum(1 for _ in values)

gm.read_text(sys.argv[1]).flat_map(str.split).map(pair).group_by_key().map_values(
    count).write_text(sys.argv[2])
"""


def peak_worker_rss(args: list[str]) -> int:
    """Run the CLI; the largest resident set any of its worker processes reached."""
    proc = psutil.Popen([GRISTMILL, *args], stdout=-3, stderr=-1)
    peak = 0
    while proc.poll() is None:
        try:
            workers = proc.children(recursive=True)
            peak = max([peak] + [w.memory_info().rss for w in workers])
        except psutil.Error:
            pass  # a worker exited between listing and sampling
        time.sleep(0.005)
    assert proc.returncode == 0, proc.stderr.read().decode() if proc.stderr else ""
    return peak


def _text(path: Path, words: int) -> None:
    rng = np.random.default_rng(1)
    ids = rng.zipf(1.2, size=words) % 2_000_000
    lines = [" ".join(f"w{i}" for i in ids[j : j + 10]) for j in range(0, words, 10)]
    path.write_text("\n".join(lines) + "\n")


def _check(command: list[str], tiny: list[str], large: list[str]) -> None:
    # Flags go before the arguments: `gristmill run` hands everything after SCRIPT to it.
    base = peak_worker_rss([*command, *FLAGS, *tiny])
    peak = peak_worker_rss([*command, *FLAGS, *large])
    assert base > 0 and peak > 0
    assert peak <= base + 1.5 * BUDGET, (
        f"worker peak {peak / 2**20:.0f} MB over {base / 2**20:.0f} MB overhead + 1.5x budget"
    )


FLAGS = ["--workers", "2", "--memory", "32MB", "--executor", "local"]


def test_terasort_stays_within_budget(tmp_path: Path) -> None:
    for name, rows in (("tiny", 1000), ("large", 1_500_000)):  # 150 MB: ~5x the budget
        done = peak_worker_rss(["example", "teragen", str(rows), "-o", str(tmp_path / name)])
        assert done > 0
    tiny = [str(tmp_path / "tiny"), "-o", str(tmp_path / "o1"), "--split-size", "64MB"]
    large = [str(tmp_path / "large"), "-o", str(tmp_path / "o2"), "--split-size", "64MB"]
    _check(["example", "terasort"], tiny, large)


@pytest.mark.parametrize("job", ["count_by_value", "columnar", "hot-key"])  # word counts first
def test_keyed_jobs_stay_within_budget(tmp_path: Path, job: str) -> None:
    _text(tmp_path / "tiny.txt", 1000)
    _text(tmp_path / "large.txt", 3_000_000)  # ~13 MB of text: 3M records, 300k distinct words
    tiny, large = [str(tmp_path / "tiny.txt")], [str(tmp_path / "large.txt")]
    if job != "hot-key":
        command = ["example", "wordcount", "--form", job]
        tiny += ["-o", str(tmp_path / "o1")]
        large += ["-o", str(tmp_path / "o2")]
    else:
        script = tmp_path / "hot.py"
        script.write_text(HOT_KEY_JOB)
        command = ["run"]
        tiny = [str(script), *tiny, str(tmp_path / "o1")]
        large = [str(script), *large, str(tmp_path / "o2")]
    _check(command, tiny, large)
