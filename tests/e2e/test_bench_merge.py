"""The harness merges a re-measured tool into its old place, so each cell keeps its baseline."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # the harness is a folder of the repository, not installed

import benchmarks.run as bench  # noqa: E402


def test_remeasured_tools_keep_their_place_and_the_baseline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench, "RESULTS", str(tmp_path / "results"))
    monkeypatch.setattr(bench, "HERE", str(tmp_path))
    monkeypatch.setattr(bench, "draw_charts", lambda *_: [])

    def row(tool: str, wall: float) -> bench.Row:
        return bench.Row("etl", "1GB", tool, wall, wall, 10.0, 1.0, "ok", 3)

    monkeypatch.setattr(bench, "ONLY", ())
    bench.write_results([row("python", 50.0), row("spark", 30.0), row("gm", 5.0)], "full")
    monkeypatch.setattr(bench, "ONLY", ("python", "gm"))
    bench.write_results([row("python", 40.0), row("gm", 4.0)], "only python, gm")
    with open(tmp_path / "results" / "results.csv", newline="", encoding="utf-8") as f:
        got = [(r["tool"], r["ratio"], r["command"]) for r in csv.DictReader(f)]
    assert got == [
        ("python", "1.00", "only python, gm"),
        ("spark", "0.75", "full"),
        ("gm", "0.10", "only python, gm"),
    ]
    # A full run of the cell replaces it whole, in its own order.
    monkeypatch.setattr(bench, "ONLY", ())
    bench.write_results([row("python", 40.0), row("gm", 4.0)], "full again")
    with open(tmp_path / "results" / "results.csv", newline="", encoding="utf-8") as f:
        assert [r["tool"] for r in csv.DictReader(f)] == ["python", "gm"]
