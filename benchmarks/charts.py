"""Charts of benchmarks/results/results.csv: per workload and size, and gristmill as input grows.

`python -m benchmarks.charts` redraws them; `benchmarks.run` calls `draw` after every run.
Writes `benchmarks/results/<workload>-<size>.png` (wall time and peak memory per tool, failed
and skipped tools left out, gristmill in its own colour) and `<workload>-scaling.png`
(gristmill's fastest multi-worker form: time and peak memory from 100MB up).
"""

from __future__ import annotations

import csv
import os
from collections import defaultdict

from gristmill.config import parse_size

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
GRISTMILL, PEER = "#d9480f", "#868e96"


def _rows(csv_path: str) -> list[dict[str, str]]:
    with open(csv_path, newline="", encoding="utf-8") as f:
        return [r for r in csv.DictReader(f) if r["status"] == "ok" and float(r["wall"]) > 0]


def _bars(workload: str, size: str, rows: list[dict[str, str]], out: str) -> str:
    import matplotlib.pyplot as plt

    rows = sorted(rows, key=lambda r: float(r["wall"]), reverse=True)
    names = [r["tool"] for r in rows]
    colors = [GRISTMILL if n.startswith("gristmill") else PEER for n in names]
    fig, (time_ax, mem_ax) = plt.subplots(
        1, 2, figsize=(12, 0.45 * len(rows) + 1.5), sharey=True, layout="constrained"
    )
    walls = [float(r["wall"]) for r in rows]
    time_ax.barh(names, walls, color=colors)
    time_ax.set_xlabel("median wall time, s (shorter is better)")
    if max(walls) > 20 * min(walls):
        time_ax.set_xscale("log")  # one slow peer would flatten everyone else's bar
    mem_ax.barh(names, [float(r["peak_mb"]) for r in rows], color=colors)
    mem_ax.set_xlabel("peak memory of the process tree, MB")
    fig.suptitle(f"{workload}, {size} input")
    path = os.path.join(out, f"{workload}-{size}.png")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _scaling(workload: str, rows: list[dict[str, str]], out: str) -> str | None:
    import matplotlib.pyplot as plt

    best: dict[str, dict[str, str]] = {}
    for r in rows:
        name = r["tool"]
        if not name.startswith("gristmill") or "(1 worker" in name:
            continue
        if parse_size(r["size"]) < 100 * 1024**2:
            continue  # start-up sizes say nothing about growth
        if r["size"] not in best or float(r["wall"]) < float(best[r["size"]]["wall"]):
            best[r["size"]] = r
    if len(best) < 2:
        return None
    sizes = sorted(best, key=parse_size)
    gb = [parse_size(s) / 1024**3 for s in sizes]
    fig, (time_ax, mem_ax) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    time_ax.loglog(gb, [float(best[s]["wall"]) for s in sizes], "o-", color=GRISTMILL)
    time_ax.set_xlabel("input, GB")
    time_ax.set_ylabel("wall time, s")
    mem_ax.semilogx(gb, [float(best[s]["peak_mb"]) for s in sizes], "o-", color=GRISTMILL)
    mem_ax.set_xlabel("input, GB")
    mem_ax.set_ylabel("peak memory, MB")
    mem_ax.set_ylim(bottom=0)
    for s, x in zip(sizes, gb, strict=True):
        time_ax.annotate(best[s]["tool"], (x, float(best[s]["wall"])), fontsize=7)
    fig.suptitle(f"gristmill {workload} as input grows")
    path = os.path.join(out, f"{workload}-scaling.png")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def draw(csv_path: str = os.path.join(RESULTS, "results.csv"), out: str = RESULTS) -> list[str]:
    """Draw every chart from `csv_path` into `out`; returns the PNG paths (none without
    matplotlib, which comes with the dev extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
    except ImportError:
        print("matplotlib not installed: no charts (pip install -e '.[dev]')")
        return []
    by_cell: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    by_workload: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in _rows(csv_path):
        by_cell[(r["workload"], r["size"])].append(r)
        by_workload[r["workload"]].append(r)
    paths = [_bars(w, s, rows, out) for (w, s), rows in sorted(by_cell.items()) if len(rows) > 1]
    for workload, rows in sorted(by_workload.items()):
        path = _scaling(workload, rows, out)
        if path:
            paths.append(path)
    return paths


if __name__ == "__main__":
    for chart in draw():
        print(chart)
