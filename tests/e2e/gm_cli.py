"""Running the installed `gristmill` command the way a user does, for the e2e tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

GRISTMILL = os.path.join(os.path.dirname(sys.executable), "gristmill")


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """`gristmill ARGS...` to completion, output captured as text; never raises on failure."""
    return subprocess.run(
        [GRISTMILL, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
