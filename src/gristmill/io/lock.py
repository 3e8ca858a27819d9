"""A lock on an output path, so two jobs never write the same destination at once.

The lock is a small JSON file beside the destination, created with O_EXCL (atomic on one
filesystem) and naming its owner: job id, pid, host and expiry. A lock whose owner died on this
host, or whose expiry passed, is stale and taken over.
"""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any

from gristmill.errors import UsageError

DEFAULT_TTL = 6 * 3600.0


class OutputLockedError(UsageError):
    """Another job holds the output path; the message names it."""


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this host (one we may not signal counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_gone(owner: dict[str, Any]) -> bool:
    """Whether the process an owner record names (``host``, ``pid``) ran on this host and is
    gone; one on another host is never judged from here."""
    pid = owner.get("pid")
    if owner.get("host") != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return False
    return not pid_alive(pid)


class OutputLock:
    """Owner-stamped lock file ``.<name>.gristmill-lock`` beside `dest`."""

    def __init__(self, dest: str, job_id: str, ttl: float = DEFAULT_TTL) -> None:
        parent, name = os.path.split(dest.rstrip(os.sep))
        self.path = os.path.join(parent, f".{name}.gristmill-lock")
        self.dest = dest
        self.job_id = job_id
        self.ttl = ttl
        self.held = False

    def _body(self) -> bytes:
        owner = {
            "job_id": self.job_id,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "expires": time.time() + self.ttl,
        }
        return json.dumps(owner).encode()

    def acquire(self) -> None:
        """Take the lock or raise `OutputLockedError` naming the job that holds it."""
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner is not None and not self._stale(owner):
                    raise OutputLockedError(
                        f"output {self.dest} is being written by job {owner.get('job_id')} "
                        f"(pid {owner.get('pid')} on {owner.get('host')}); try again later"
                    ) from None
                self._break()
                continue
            with os.fdopen(fd, "wb") as f:
                f.write(self._body())
            self.held = True
            return
        raise OutputLockedError(f"output {self.dest} is locked by another job starting now")

    def _owner(self) -> dict[str, Any] | None:
        try:
            with open(self.path, "rb") as f:
                owner: dict[str, Any] = json.loads(f.read() or b"{}")
                return owner
        except FileNotFoundError:
            return None
        except ValueError:
            return {}  # half-written by an owner that died mid-write: stale

    @staticmethod
    def _stale(owner: dict[str, Any]) -> bool:
        if not owner or float(owner.get("expires", 0)) < time.time():
            return True
        return owner_gone(owner)

    def _break(self) -> None:
        # Rename first: of two jobs breaking the same stale lock, only one rename succeeds.
        grave = f"{self.path}.stale-{self.job_id}"
        try:
            os.rename(self.path, grave)
            os.unlink(grave)
        except FileNotFoundError:
            pass

    def release(self) -> None:
        """Drop the lock if this job still owns it."""
        if self.held:
            owner = self._owner()
            if owner is not None and owner.get("job_id") == self.job_id:
                os.unlink(self.path)
            self.held = False
