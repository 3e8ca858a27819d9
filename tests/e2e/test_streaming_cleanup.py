"""A streaming command never outlives its job: failed, timed-out and cancelled jobs kill them.

Each test runs its mapper from a script at a path of its own, so any process still showing that
path in /proc/*/cmdline after the job ended is one the job left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gm_cli import GRISTMILL, run_cli

# Inputs holding "boom" fail at once; the others hang, as a mapper waiting on a lock would.
MAPPER = """import sys, time
if "boom" in sys.stdin.read():
    sys.exit(3)
time.sleep(60)
"""


def _holders(marker: str, *, commands_only: bool = False) -> list[int]:
    """Live processes whose command line names `marker` (zombies have an empty one): the
    driver, its workers (forked, so with its command line) and the mapper commands."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if commands_only:
            found = cmdline.split(b"\0")[1:2] == [marker.encode()]  # python MAPPER
        else:
            found = marker.encode() in cmdline
        if found:
            pids.append(int(entry))
    return pids


def _wait_for_commands(marker: str, count: int) -> None:
    deadline = time.monotonic() + 30
    while len(_holders(marker, commands_only=True)) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def _left_behind(marker: str) -> list[int]:
    deadline = time.monotonic() + 3  # a killed process can take a moment to go
    while (pids := _holders(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pids


@pytest.fixture
def mapper(tmp_path: Path) -> Iterator[Path]:
    script = tmp_path / "hang_mapper.py"
    script.write_text(MAPPER)
    yield script
    for pid in _holders(str(script)):  # don't let a failing test leave them running
        os.kill(pid, signal.SIGKILL)


def _inputs(tmp_path: Path, *texts: str) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for i, text in enumerate(texts):
        (folder / f"in{i}.txt").write_text(text)
    return folder


def _args(inputs: Path, out: Path, mapper: Path, *extra: str) -> list[str]:
    return [
        "streaming",
        "--workers",
        "2",
        *extra,
        "-input",
        str(inputs),
        "-output",
        str(out),
        "-mapper",
        f"{sys.executable} {mapper}",
        "-reducer",
        "NONE",
    ]


def test_timed_out_attempts_leave_no_command(tmp_path: Path, mapper: Path) -> None:
    inputs = _inputs(tmp_path, "one line\n")
    done = run_cli(*_args(inputs, tmp_path / "out", mapper, "--task-timeout", "0.5"))
    assert done.returncode == 1 and "timed out" in done.stderr, done.stderr
    assert _left_behind(str(mapper)) == []


def test_failed_job_kills_the_commands_still_running(tmp_path: Path, mapper: Path) -> None:
    inputs = _inputs(tmp_path, "boom\n", "hang\n")
    done = run_cli(*_args(inputs, tmp_path / "out", mapper))
    assert done.returncode == 1 and "exited with code 3" in done.stderr, done.stderr
    assert _left_behind(str(mapper)) == []


@pytest.mark.parametrize("group", [True, False], ids=["ctrl-c", "sigterm"])
def test_cancel_kills_the_commands(tmp_path: Path, mapper: Path, group: bool) -> None:
    inputs = _inputs(tmp_path, "hang\n", "hang\n")
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [GRISTMILL, *_args(inputs, out, mapper)],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_commands(str(mapper), 2)
    if group:
        os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole group
    else:
        os.kill(proc.pid, signal.SIGTERM)  # as `kill PID` or a supervisor would
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert not out.exists()
    assert _left_behind(str(mapper)) == []


def test_killed_driver_takes_the_commands_along(tmp_path: Path, mapper: Path) -> None:
    inputs = _inputs(tmp_path, "hang\n", "hang\n")
    proc = subprocess.Popen(
        [GRISTMILL, *_args(inputs, tmp_path / "out", mapper)],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for_commands(str(mapper), 2)
    proc.kill()  # no cleanup runs in the driver: its workers must notice and go
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert _left_behind(str(mapper)) == []
