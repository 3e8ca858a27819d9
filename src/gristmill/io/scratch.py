"""Scratch directories that a later run can tell were abandoned, and removes.

A driver that is SIGKILLed (or loses its machine's power) runs no cleanup, so its scratch
directory would stay forever. Each one holds an owner file naming host and pid that its process
keeps flock()ed: the kernel drops the lock however the process ends. A later job on the same
scratch directory removes a ``gristmill-*`` directory only when nobody holds that lock, the
owner was on this host and its pid is gone, and it is older than `RECLAIM_AGE` (in case locks
do not reach across, as on an NFS mount without them, or pids do, as between containers).
Directories without an owner file are never touched. Imports nothing from gristmill.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import tempfile
import time
from typing import Any

from gristmill.io.lock import owner_gone

OWNER = ".gristmill-owner"
PREFIX = "gristmill-"
RECLAIM_AGE = 15 * 60.0


class Scratch:
    """A fresh directory under `parent`, owned by this process until `close`."""

    def __init__(self, prefix: str, parent: str) -> None:
        os.makedirs(parent, exist_ok=True)
        self.path = os.path.abspath(tempfile.mkdtemp(prefix=prefix, dir=parent))
        self._fd = os.open(os.path.join(self.path, OWNER), os.O_CREAT | os.O_WRONLY, 0o600)
        for _ in range(1000):  # a fresh file: only a reclaim peeking at it holds it, briefly
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                time.sleep(0.001)
        else:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        os.write(self._fd, json.dumps({"host": socket.gethostname(), "pid": os.getpid()}).encode())

    def close(self) -> None:
        """Remove the directory, then give up ownership."""
        shutil.rmtree(self.path, ignore_errors=True)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Scratch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _abandoned(owner_file: str, min_age: float) -> bool:
    """Whether the directory's owner is gone for good (see the module's docstring)."""
    try:
        fd = os.open(owner_file, os.O_RDONLY)
    except OSError:
        return False
    try:
        # Young ones are left alone before their lock is touched: a reclaim in another thread
        # must not hold a new directory's lock while its creator takes it.
        if time.time() - os.fstat(fd).st_mtime < min_age:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # its owner (or another reclaim) holds it
        owner: Any = json.loads(os.read(fd, 4096) or b"null")
        return isinstance(owner, dict) and owner_gone(owner)
    except ValueError:
        return False  # not yet (or never) written in full: leave it
    finally:
        os.close(fd)


def reclaim(parent: str, min_age: float = RECLAIM_AGE) -> list[str]:
    """Remove the abandoned scratch directories under `parent`; returns their paths."""
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(parent):
            if not entry.name.startswith(PREFIX) or not entry.is_dir(follow_symlinks=False):
                continue
            if _abandoned(os.path.join(entry.path, OWNER), min_age):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(entry.path)
    return removed
