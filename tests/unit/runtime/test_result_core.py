"""A job's one-line summary: it says "ok" only for a job that finished."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import gristmill as gm
from gristmill.api.execute import plan_for
from gristmill.plan.sinks import Sink, SinkKind
from gristmill.runtime.progress import LogProgress
from gristmill.runtime.result import format_summary
from gristmill.runtime.scheduler import run_job


def test_a_failure_without_a_message_is_not_ok() -> None:
    line = format_summary("j1", 1.5, {"input.records": 3}, ok=False)
    assert "ok" not in line.split() and line.startswith("job j1 failed after 1.50s")


def _cancel(line: str) -> str:
    raise KeyboardInterrupt  # what Ctrl-C (or the CLI's SIGTERM handler) raises mid-job


def test_a_cancelled_job_summary_says_cancelled(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("a\nb\n")
    config = gm.Config(executor="inline", progress=False, scratch_dir=str(tmp_path / "s"))
    graph = plan_for(gm.read_text(str(src)).map(_cancel).node, config)
    log = io.StringIO()
    with pytest.raises(KeyboardInterrupt):
        run_job(graph, Sink(SinkKind.COLLECT), config, listeners=[LogProgress(log)])
    summary = log.getvalue().splitlines()[-1]
    assert " ok " not in summary and summary.endswith(": cancelled"), summary
