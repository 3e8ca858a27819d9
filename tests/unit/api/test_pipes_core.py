"""pipe_lines: a command whose output is abandoned is killed, not waited for."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from gristmill.api.pipes import Command, pipe_lines

SLOW = """import sys, time
print("first", flush=True)
time.sleep(30)
"""


def test_an_abandoned_command_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "slow_command.py"
    script.write_text(SLOW)
    out = pipe_lines(Command(f"{sys.executable} {script}"), iter(["a", "b"]))
    assert next(out) == "first"
    started = time.monotonic()
    out.close()  # as when the task fails downstream of the command
    assert time.monotonic() - started < 5
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        assert str(script).encode() not in cmdline
