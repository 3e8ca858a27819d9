"""`make bench`: word count with gristmill and a single-process Counter baseline, same data.

Every run's output is verified against the baseline's (sha256 of the sorted lines), so a fast
wrong answer cannot count. Writes benchmarks/results/wordcount.csv and regenerates
benchmarks/RESULTS.md (keeping the hand-written part between the manual markers).
"""

from __future__ import annotations

import argparse
import csv
import glob
import hashlib
import os
import platform
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata

from benchmarks.measure import Measurement, run
from gristmill.config import parse_size
from gristmill.examples.textgen import generate_text

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
RESULTS = os.path.join(HERE, "results")
MANUAL = ("<!-- manual -->", "<!-- /manual -->")


@dataclass(frozen=True)
class Row:
    workload: str
    size: str
    tool: str
    wall: float
    cpu: float
    peak_mb: float
    ratio: float
    status: str


def corpus(size: str) -> str:
    os.makedirs(DATA, exist_ok=True)
    path = os.path.join(DATA, f"text-{size}.txt")
    if not os.path.exists(path):
        print(f"generating {size} of text at {path}", flush=True)
        generate_text(path, parse_size(size), seed=42)
    return path


def digest(paths: list[str]) -> str:
    lines: list[bytes] = []
    for path in paths:
        with open(path, "rb") as f:
            lines += f.read().splitlines()
    lines.sort()
    return hashlib.sha256(b"\n".join(lines)).hexdigest()


def tools(data: str, out: str, workers: int) -> dict[str, tuple[list[str], list[str]]]:
    """Each tool's command and the files its output lands in."""
    bindir = os.path.dirname(sys.executable)
    gm_out = os.path.join(out, "gristmill")
    base_out = os.path.join(out, "counter.txt")
    gm = [os.path.join(bindir, "gristmill"), "example", "wordcount", data, "-o", gm_out]
    gm += ["--overwrite", "--workers", str(workers), "--no-progress"]
    base = [sys.executable, "-m", "benchmarks.peers.counter_wordcount", data, base_out]
    return {"counter (1 process)": (base, [base_out]), f"gristmill ({workers} workers)": (gm, [])}


def bench_size(size: str, runs: int, workers: int) -> list[Row]:
    data = corpus(size)
    out = tempfile.mkdtemp(prefix="gm-bench-")
    rows: list[Row] = []
    reference = None
    baseline_wall = None
    try:
        for tool, (cmd, files) in tools(data, out, workers).items():
            measured: list[Measurement] = []
            status = "ok"
            for _ in range(runs):
                m = run(cmd)
                measured.append(m)
                if m.returncode != 0:
                    status = f"FAILED ({m.stderr.strip().splitlines()[-1:]})"
                    break
                outputs = files or sorted(glob.glob(os.path.join(out, "gristmill", "part-*")))
                d = digest(outputs)
                reference = reference or d
                if d != reference:
                    status = "WRONG"
            wall = statistics.median(m.wall for m in measured)
            baseline_wall = baseline_wall or wall
            rows.append(
                Row(
                    "wordcount",
                    size,
                    tool,
                    wall,
                    statistics.median(m.cpu for m in measured),
                    max(m.peak_mb for m in measured),
                    wall / baseline_wall,
                    status,
                )
            )
            print(rows[-1], flush=True)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return rows


def machine() -> list[str]:
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = ", ".join(
        f"{p} {metadata.version(p)}" for p in ("gristmill", "cloudpickle", "lz4", "pyarrow")
    )
    return [
        f"- CPU: {cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM",
        f"- OS: {platform.platform()}; Python {platform.python_version()}",
        f"- Packages: {versions}",
    ]


def write_results(rows: list[Row], command: str) -> None:
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "wordcount.csv"), "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(Row.__dataclass_fields__)
        for r in rows:
            writer.writerow(
                [
                    r.workload,
                    r.size,
                    r.tool,
                    f"{r.wall:.3f}",
                    f"{r.cpu:.3f}",
                    f"{r.peak_mb:.0f}",
                    f"{r.ratio:.2f}",
                    r.status,
                ]
            )
    path = os.path.join(HERE, "RESULTS.md")
    manual = f"{MANUAL[0]}\n{MANUAL[1]}"
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if MANUAL[0] in text and MANUAL[1] in text:
            start, end = text.index(MANUAL[0]), text.index(MANUAL[1]) + len(MANUAL[1])
            manual = text[start:end]
    lines = [
        "# Benchmark results",
        "",
        f"Command: `{command}` (median of the runs; peak = PSS of the whole process tree).",
        "Page-cached input; every output verified against the baseline's sorted-line digest.",
        "",
        *machine(),
        "",
        "| workload | size | tool | median wall s | CPU s | peak MB | time vs baseline | ok |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    lines += [
        f"| {r.workload} | {r.size} | {r.tool} | {r.wall:.2f} | {r.cpu:.2f} | {r.peak_mb:.0f} "
        f"| {r.ratio:.2f}x | {r.status} |"
        for r in rows
    ]
    lines += ["", manual, ""]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", action="append", help="corpus size, e.g. 100MB (repeatable)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    rows: list[Row] = []
    for size in args.size or ["100MB"]:
        rows += bench_size(size, args.runs, args.workers)
    write_results(rows, "python -m benchmarks.run " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
