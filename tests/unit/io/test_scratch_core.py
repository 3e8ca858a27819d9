"""Scratch directories of processes killed outright are reclaimed; live or foreign ones never."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gristmill.io.scratch import OWNER, Scratch, reclaim

HOLD = """import sys, time
from gristmill.io.scratch import Scratch
print(Scratch("gristmill-held-", sys.argv[1]).path, flush=True)
time.sleep(60)
"""


def _killed_owner(parent: Path) -> tuple[subprocess.Popen[str], Path]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(parent)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    return proc, Path(proc.stdout.readline().strip())


def test_a_killed_owners_directory_is_reclaimed(tmp_path: Path) -> None:
    proc, held = _killed_owner(tmp_path)
    try:
        assert reclaim(str(tmp_path), min_age=0) == []  # its owner runs: kept
        assert held.is_dir()
    finally:
        proc.kill()
        proc.wait()
    assert reclaim(str(tmp_path)) == []  # dead, but younger than RECLAIM_AGE
    assert reclaim(str(tmp_path), min_age=0) == [str(held)]
    assert not held.exists()


def test_live_foreign_and_unowned_directories_are_kept(tmp_path: Path) -> None:
    with Scratch("gristmill-mine-", str(tmp_path)) as mine:
        unowned = tmp_path / "gristmill-old-layout"
        unowned.mkdir()
        proc, foreign = _killed_owner(tmp_path)
        proc.kill()
        proc.wait()
        owner = json.loads((foreign / OWNER).read_text())
        (foreign / OWNER).write_text(json.dumps({**owner, "host": "elsewhere"}))
        other = tmp_path / "not-ours"
        other.mkdir()
        assert reclaim(str(tmp_path), min_age=0) == []
        assert all(p.is_dir() for p in (Path(mine.path), unowned, foreign, other))
    assert not os.path.exists(mine.path)


def test_a_job_reclaims_what_a_killed_driver_left(tmp_path: Path) -> None:
    import gristmill as gm

    proc, held = _killed_owner(tmp_path)
    proc.kill()
    proc.wait()
    hour_ago = os.stat(held / OWNER).st_mtime - 3600
    os.utime(held / OWNER, (hour_ago, hour_ago))
    config = gm.Config(executor="inline", scratch_dir=str(tmp_path))
    assert gm.from_items([1, 2, 3]).map(lambda x: x * 2).collect(config=config) == [2, 4, 6]
    assert list(tmp_path.iterdir()) == []


def test_a_reclaim_in_another_thread_never_fails_a_new_directory(tmp_path: Path) -> None:
    # Jobs run from several threads of one process: one's reclaim peeks at the owner file of
    # a directory another is creating. Creating must not fail, nor the reclaim take it.
    import threading

    stop = threading.Event()

    def reclaiming() -> None:
        while not stop.is_set():
            reclaim(str(tmp_path), min_age=0)

    thread = threading.Thread(target=reclaiming)
    thread.start()
    try:
        made = [Scratch("gristmill-race-", str(tmp_path)) for _ in range(300)]
    finally:
        stop.set()
        thread.join()
    assert all(os.path.isdir(s.path) for s in made)
    for s in made:
        s.close()
