"""`make bench`: gristmill against baselines on the same generated data, in one run.

Workloads: word count (vs a single-process Counter) and TeraSort (vs an in-memory numpy sort);
with --workload also etl, grep and highcard (see benchmarks/workloads.py).
Every run's output is verified (word count: sha256 of the sorted lines, equal to the
baseline's; sort: teravalidate says sorted with the input's checksum, and the bytes equal the
baseline's), so a fast wrong answer cannot count. Writes benchmarks/results/results.csv and
regenerates benchmarks/RESULTS.md (keeping the hand-written part between the manual markers).
"""

from __future__ import annotations

import argparse
import compileall
import csv
import dataclasses
import glob
import hashlib
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import gristmill
from benchmarks import workloads as wl
from benchmarks.charts import draw as draw_charts
from benchmarks.measure import Measurement, run
from benchmarks.workloads import BASELINE_MAX, DATA, GRISTMILL, lines_digest
from gristmill.config import parse_size
from gristmill.examples.textgen import generate_text

HERE = os.path.dirname(os.path.abspath(__file__))
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
    runs: int = 0  # how many runs the median is of (0: not recorded)


def corpus(size: str) -> str:
    os.makedirs(DATA, exist_ok=True)
    path = os.path.join(DATA, f"text-{size}.txt")
    if not os.path.exists(path):
        print(f"generating {size} of text at {path}", flush=True)
        generate_text(path, parse_size(size), seed=42)
    return path


def tera_data(size: str) -> str:
    """A seeded teragen directory of `size` bytes (100-byte records)."""
    os.makedirs(DATA, exist_ok=True)
    path = os.path.join(DATA, f"tera-{size}")
    if not os.path.exists(path):
        rows = parse_size(size) // 100
        print(f"generating {rows} records at {path}", flush=True)
        subprocess.run(
            [GRISTMILL, "example", "teragen", str(rows), "-o", path, "--seed", "42"],
            check=True,
            capture_output=True,
        )
    return path


NUMPY_SORT_MAX = 2 * 1024**3  # the in-memory peer needs ~2.2x its input in RAM
MAPREDUCE_MAX = 1024**3  # the MapReduceJob word count form: 109 s at 1GB, so not at 10GB


@dataclass(frozen=True)
class Tool:
    name: str
    cmd: list[str] | None  # None: skipped, `outputs` says why
    outputs: list[str] | str  # the output files, or a glob of them, or the skip reason


PEERS_PYTHON: str | None = None  # --peers: the interpreter of the peers' own environment


def has_module(module: str) -> bool:
    """Whether the peers' environment can import `module`."""
    if PEERS_PYTHON is None:
        return False
    done = subprocess.run(
        [PEERS_PYTHON, "-c", f"import {module}"], capture_output=True, check=False
    )
    return done.returncode == 0


def peer(name: str, module: str, script: str, args: list[str], outputs: list[str] | str) -> Tool:
    """A peer tool run by the peers' interpreter, or skipped when its package is missing."""
    if not has_module(module):
        why = "no --peers environment" if PEERS_PYTHON is None else f"{module} not installed"
        return Tool(name, None, f"skipped: {why} (make bench-peers)")
    assert PEERS_PYTHON is not None
    return Tool(name, [PEERS_PYTHON, "-m", f"benchmarks.peers.{script}", *args], outputs)


SLOW_PEER_MAX = 100 * 1024**2  # Ray Data, mrjob: minutes per 100MB here, see the 100MB rows


def slow_peer(tool: Tool, size: str) -> Tool:
    """`tool`, or a skip row above `SLOW_PEER_MAX` (one 1GB run would take most of an hour)
    unless --only names it."""
    asked = any(part in tool.name for part in ONLY)
    if parse_size(size) > SLOW_PEER_MAX and tool.cmd is not None and not asked:
        return Tool(tool.name, None, "skipped above 100MB (minutes per 100MB here); see 100MB")
    return tool


def wordcount_peers(data: str, out: str, workers: int, size: str = "100MB") -> list[Tool]:
    spark_out = os.path.join(out, "spark")
    spark_df_out = os.path.join(out, "spark-df")
    polars_out = os.path.join(out, "polars.tsv")
    duck_out = os.path.join(out, "duckdb.tsv")
    bag_out = os.path.join(out, "dask-bag.tsv")
    ddf_out = os.path.join(out, "dask-dataframe.tsv")
    ray_out = os.path.join(out, "ray.tsv")
    mr_out = os.path.join(out, "mrjob")
    w = str(workers)
    return [
        peer(
            f"pyspark RDD (local[{w}])",
            "pyspark",
            "spark_wordcount",
            [data, spark_out, w],
            os.path.join(spark_out, "part-*"),
        ),
        peer(
            f"pyspark DataFrame (local[{w}])",
            "pyspark",
            "spark_df_wordcount",
            [data, spark_df_out, w],
            os.path.join(spark_df_out, "part-*"),
        ),
        peer("polars", "polars", "polars_wordcount", [data, polars_out], [polars_out]),
        peer(
            f"duckdb ({w} threads)", "duckdb", "duckdb_wordcount", [data, duck_out, w], [duck_out]
        ),
        peer(
            f"dask bag ({w} processes)",
            "distributed",
            "dask_bag_wordcount",
            [data, bag_out, w],
            [bag_out],
        ),
        peer(
            f"dask dataframe ({w} processes)",
            "dask.dataframe",
            "dask_dataframe_wordcount",
            [data, ddf_out, w],
            [ddf_out],
        ),
        slow_peer(
            peer(
                f"ray data ({w} CPUs)", "ray.data", "ray_wordcount", [data, ray_out, w], [ray_out]
            ),
            size,
        ),
        slow_peer(
            peer(
                f"mrjob -r local ({w} cores)",
                "mrjob",
                "mrjob_wordcount",
                [data, mr_out, w],
                os.path.join(mr_out, "part-*"),
            ),
            size,
        ),
    ]


def gristmill_wordcount(data: str, out: str, workers: int, form: str) -> Tool:
    """gristmill's word count in one API form (`gristmill example wordcount --form`)."""
    gm_out = os.path.join(out, f"gristmill-{form}-{workers}")
    cmd = [GRISTMILL, "example", "wordcount", data, "-o", gm_out, "--form", form]
    cmd += ["--workers", str(workers), "--no-progress"]
    plural = "s" if workers > 1 else ""
    return Tool(f"gristmill {form} ({workers} worker{plural})", cmd, os.path.join(gm_out, "part-*"))


def wordcount_tools(data: str, out: str, workers: int, size: str) -> list[Tool]:
    base_out = os.path.join(out, "counter.txt")
    base = [sys.executable, "-m", "benchmarks.peers.counter_wordcount", data, base_out]
    mp_out = os.path.join(out, "mp.txt")
    mp = [sys.executable, "-m", "benchmarks.peers.mp_wordcount", data, mp_out, str(workers)]
    counter = Tool("counter (1 process)", base, [base_out])
    if parse_size(size) > BASELINE_MAX:
        counter = Tool(counter.name, None, "skipped above 2GB (about a minute per GB); see 1GB")
    forms = [gristmill_wordcount(data, out, workers, f) for f in ("count_by_value", "columnar")]
    if parse_size(size) > 1024:  # 1KB measures start-up: the default form, and pyarrow's cost
        forms.append(gristmill_wordcount(data, out, workers, "chain"))
        mapreduce = gristmill_wordcount(data, out, workers, "mapreduce")  # mrjob users' figure
        if parse_size(size) > MAPREDUCE_MAX:
            mapreduce = Tool(mapreduce.name, None, "skipped above 1GB (about 110 s per GB)")
        forms.append(mapreduce)
        if workers > 1:  # the scaling figure: the fastest form on one worker
            forms.append(gristmill_wordcount(data, out, 1, "columnar"))
    return [
        counter,
        Tool(f"multiprocessing + Counter ({workers} processes)", mp, [mp_out]),
        *forms,
        *wordcount_peers(data, out, workers, size),
    ]


def gristmill_terasort(data: str, out: str, workers: int) -> Tool:
    gm_out = os.path.join(out, f"gristmill-{workers}")
    cmd = [GRISTMILL, "example", "terasort", data, "-o", gm_out]
    cmd += ["--workers", str(workers), "--memory", "512MB", "--no-progress"]
    plural = "s" if workers > 1 else ""
    name = f"gristmill terasort ({workers} worker{plural}, 512MB)"
    return Tool(name, cmd, os.path.join(gm_out, "part-*"))


def terasort_tools(data: str, out: str, workers: int, size: str) -> list[Tool]:
    np_out = os.path.join(out, "numpy.bin")
    tools = []
    if parse_size(size) <= NUMPY_SORT_MAX:
        np_cmd = [sys.executable, "-m", "benchmarks.peers.numpy_sort", data, np_out]
        tools.append(Tool("numpy in-memory sort (1 process)", np_cmd, [np_out]))
    else:
        tools.append(
            Tool("numpy in-memory sort (1 process)", None, "skipped: needs ~2.2x input RAM")
        )
    tools.append(gristmill_terasort(data, out, workers))
    if workers > 1 and parse_size(size) > 1024:
        tools.append(gristmill_terasort(data, out, 1))
    w = str(workers)
    if parse_size(size) <= NUMPY_SORT_MAX:  # in memory too: the records plus a sorted copy
        polars_out = os.path.join(out, "polars.bin")
        duck_out = os.path.join(out, "duckdb.bin")
        tools.append(
            peer(
                f"polars sort ({w} threads)",
                "polars",
                "polars_sort",
                [data, polars_out, w],
                [polars_out],
            )
        )
        tools.append(
            peer(
                f"duckdb ORDER BY ({w} threads)",
                "duckdb",
                "duckdb_sort",
                [data, duck_out, w],
                [duck_out],
            )
        )
    spark_out = os.path.join(out, "spark")
    partitions = str(max(2, -(-parse_size(size) // (128 * 1024**2))))
    spark_args = [data, spark_out, str(workers), partitions]
    tools.append(
        peer(
            f"pyspark sortByKey (local[{workers}])",
            "pyspark",
            "spark_terasort",
            spark_args,
            os.path.join(spark_out, "part-*"),
        )
    )
    return tools


def file_digest(paths: list[str]) -> str:
    """sha256 of the files concatenated in order (a sort's output is unique)."""
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
    return h.hexdigest()


def validate_sorted(paths: list[str], out: str) -> tuple[bool, str]:
    """teravalidate's verdict on `paths`: whether they are sorted, and their checksum."""
    report = os.path.join(out, "report")
    cmd = [GRISTMILL, "example", "teravalidate", *paths, "-o", report, "--overwrite"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    values = dict(ln.split("\t", 1) for ln in done.stdout.splitlines() if "\t" in ln)
    return done.returncode == 0, values.get("checksum", "")


def _warm(path: str) -> None:
    """Read `path` (a file, or the files of a directory) into the page cache before a run, as
    the table promises: a 10GB run writes as much as it reads, which evicts the input the next
    run needs (7.4 of the 10.7GB TeraSort input were cached after a few such runs)."""
    names = [path] if os.path.isfile(path) else sorted(glob.glob(os.path.join(path, "*")))
    buffer = bytearray(16 << 20)
    for name in names:
        if os.path.isfile(name):
            with open(name, "rb", buffering=0) as f:
                while f.readinto(buffer):
                    pass


def _clear(out: str, keep: str) -> None:
    for name in os.listdir(out):
        path = os.path.join(out, name)
        if path != keep and name != "report":
            shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)


def more_workloads(
    workload: str, size: str, out: str, workers: int
) -> tuple[str, list[Tool], Callable[[list[str]], str]]:
    """Input, tools and output check of the etl, grep and highcard workloads."""
    kw: dict[str, Any] = {"workers": workers, "size": size, "peer": peer, "tool": Tool}
    if workload == "etl":
        orders, products = wl.orders_data(size)
        return orders, wl.etl_tools(orders, products, out, **kw), wl.parquet_digest
    if workload == "grep":
        data = corpus(size)
        return data, wl.grep_tools(data, out, **kw), wl.lines_digest
    data = wl.kv_data(size)
    return data, wl.highcard_tools(data, out, **kw), wl.lines_digest


MORE_WORKLOADS = ("etl", "grep", "highcard")
REPEAT_UNDER = 150.0  # seconds (--repeat-under): a tool whose first run takes longer runs once
ONLY: tuple[str, ...] = ()  # --only: run just the tools whose names contain one of these


def bench(workload: str, size: str, runs: int, workers: int) -> list[Row]:
    out = tempfile.mkdtemp(prefix="gm-bench-")
    rows: list[Row] = []
    reference = None
    baseline_wall = None
    try:
        if workload in MORE_WORKLOADS:
            data, tools, check = more_workloads(workload, size, out, workers)
        elif workload == "wordcount":
            data = corpus(size)
            tools = wordcount_tools(data, out, workers, size)
            check = lines_digest
        else:
            data = tera_data(size)
            tools = terasort_tools(data, out, workers, size)
            _, input_checksum = validate_sorted(
                sorted(glob.glob(os.path.join(data, "part-*"))), out
            )

            def check(paths: list[str]) -> str:
                # Sorted, and the same records as the input (checksum), and the same bytes as
                # every other tool's output (digest): a fast wrong answer cannot count.
                ok = validate_sorted(paths, out) == (True, input_checksum)
                return file_digest(paths) if ok else "WRONG"

        if ONLY:
            tools = [t for t in tools if any(part in t.name for part in ONLY)]
        measured: dict[str, list[Measurement]] = {t.name: [] for t in tools}
        status: dict[str, str] = {t.name: "ok" for t in tools}
        # Round robin: every tool runs once, then again, so a machine that slows down for a
        # few minutes weighs on every tool alike instead of on whichever ran then.
        for attempt in range(runs):
            for tool in tools:
                done = measured[tool.name]
                if tool.cmd is None or status[tool.name] != "ok":
                    continue
                if attempt and done[0].wall > REPEAT_UNDER:
                    continue  # minutes per run: one run is the figure (the table says so)
                _clear(out, keep=data)  # deleting an old output is not part of the job
                # The last run's output is still being written back to disk: a 10GB one keeps
                # the kernel's flusher busy on our two cores into the next run. Start clean.
                os.sync()
                _warm(data)
                m = run(tool.cmd)
                done.append(m)
                if m.returncode != 0:
                    status[tool.name] = f"FAILED ({m.stderr.strip().splitlines()[-1:]})"
                    continue
                outputs = tool.outputs
                files = sorted(glob.glob(outputs)) if isinstance(outputs, str) else outputs
                d = check(files)
                reference = reference or d
                if d != reference or d == "WRONG":
                    status[tool.name] = "WRONG"
                print(f"  {tool.name}: run {attempt + 1} {m.wall:.2f} s", flush=True)
        for tool in tools:
            done = measured[tool.name]
            if not done:
                rows.append(Row(workload, size, tool.name, 0, 0, 0, 0, str(tool.outputs)))
                print(rows[-1], flush=True)
                continue
            wall = statistics.median(m.wall for m in done)
            baseline_wall = baseline_wall or wall
            rows.append(
                Row(
                    workload,
                    size,
                    tool.name,
                    wall,
                    statistics.median(m.cpu for m in done),
                    max(m.peak_mb for m in done),
                    wall / baseline_wall,
                    status[tool.name],
                    len(done),
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


CSV_FIELDS = (*[f for f in Row.__dataclass_fields__ if f != "runs"], "command", "runs")


def _previous(path: str) -> list[tuple[Row, str]]:
    """Rows (and their commands) of an earlier results.csv, to keep what this run did not redo."""
    if not os.path.exists(path):
        return []
    out = []
    with open(path, newline="", encoding="utf-8") as f:
        for rec in csv.DictReader(f):
            if "command" not in rec:
                continue  # an older file without commands: its rows are not reproducible
            row = Row(
                rec["workload"],
                rec["size"],
                rec["tool"],
                float(rec["wall"]),
                float(rec["cpu"]),
                float(rec["peak_mb"]),
                float(rec["ratio"]),
                rec["status"],
                int(rec.get("runs") or _runs_of(rec["command"])),
            )
            out.append((row, rec["command"]))
    return out


def _runs_of(command: str) -> int:
    """The --runs of an older row's command (rows before the runs column)."""
    words = command.split()
    return int(words[words.index("--runs") + 1]) if "--runs" in words else 3


def write_results(rows: list[Row], command: str) -> None:
    """Merge `rows` into results.csv (replacing the same workload and size) and RESULTS.md."""
    os.makedirs(RESULTS, exist_ok=True)
    csv_path = os.path.join(RESULTS, "results.csv")
    # A full run replaces its workload and size; an --only run just the tools it ran, each
    # in its old place, so a cell keeps its order and its first tool (the baseline) stays.
    cells = {(r.workload, r.size) for r in rows} if not ONLY else set()
    remeasured = {(r.workload, r.size, r.tool): (r, command) for r in rows}
    merged = []
    for r, c in _previous(csv_path):
        if (r.workload, r.size) not in cells:
            merged.append(remeasured.pop((r.workload, r.size, r.tool), (r, c)))
    merged += list(remeasured.values())
    merged.sort(key=lambda rc: (rc[0].workload, parse_size(rc[0].size)))  # stable: tool order
    base: dict[tuple[str, str], float] = {}
    for r, _ in merged:  # the first tool measured in a cell is its baseline
        if r.wall and r.status == "ok":
            base.setdefault((r.workload, r.size), r.wall)
    merged = [
        (dataclasses.replace(r, ratio=r.wall / base[(r.workload, r.size)] if r.wall else 0), c)
        for r, c in merged
    ]
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_FIELDS)
        for r, cmd in merged:
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
                    cmd,
                    r.runs,
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
    commands = sorted({c for _, c in merged})
    lines = [
        "# Benchmark results",
        "",
        "Median wall time of the runs (`runs`: a tool slower than --repeat-under runs once);",
        "CPU = user+system of the whole tree; peak = PSS of the",
        "whole process tree, sampled from /proc. Page-cached input (read in before each run,",
        "after a sync). Every output is verified:",
        "word count against the baseline's sorted-line digest; sorts by teravalidate (sorted,",
        "same checksum as the input) and byte-equal to the baseline's output.",
        "",
        "Commands (run from the repository root with the venv's python):",
        *[f"- `{c}`" for c in commands],
        "",
        *machine(),
        "",
        "| workload | size | tool | median wall s | runs | CPU s | peak MB | time vs baseline "
        "| ok |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    lines += [
        f"| {r.workload} | {r.size} | {r.tool} | {r.wall:.2f} | {r.runs} | {r.cpu:.2f} "
        f"| {r.peak_mb:.0f} "
        f"| {r.ratio:.2f}x | {r.status} |"
        if r.wall
        else f"| {r.workload} | {r.size} | {r.tool} | | | | | | {r.status} |"
        for r, _ in merged
    ]
    charts = [os.path.relpath(p, HERE) for p in draw_charts(csv_path, RESULTS)]
    if charts:
        lines += ["", "Charts: " + ", ".join(f"[{os.path.basename(c)}]({c})" for c in charts)]
    lines += ["", manual, ""]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


def main() -> None:
    global PEERS_PYTHON, ONLY, REPEAT_UNDER
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", action="append", help="input size, e.g. 100MB (repeatable)")
    parser.add_argument(
        "--workload",
        action="append",
        choices=("wordcount", "terasort", *MORE_WORKLOADS),
        help="(repeatable)",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--peers", help="python of the peers' environment (make bench-peers)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--only", action="append", help="run only tools whose name contains this (repeatable)"
    )
    parser.add_argument(
        "--repeat-under",
        type=float,
        default=REPEAT_UNDER,
        help="seconds: a tool whose first run takes longer is run once (default %(default)s)",
    )
    args = parser.parse_args()
    PEERS_PYTHON = args.peers
    ONLY = tuple(args.only or ())
    REPEAT_UNDER = args.repeat_under
    # Byte-code as `pip install` leaves it: where PYTHONDONTWRITEBYTECODE is set, an edited
    # module would otherwise be compiled again on every start-up that is measured.
    compileall.compile_dir(os.path.dirname(gristmill.__file__), quiet=1)
    rows: list[Row] = []
    for workload in args.workload or ["wordcount", "terasort"]:
        for size in args.size or ["100MB"]:
            rows += bench(workload, size, args.runs, args.workers)
    write_results(rows, "python -m benchmarks.run " + shlex.join(sys.argv[1:]))


if __name__ == "__main__":
    main()
