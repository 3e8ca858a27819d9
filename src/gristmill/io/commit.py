"""Output commit protocol: staged attempts, one committed attempt per task, atomic job commit.

Attempts write under a hidden staging directory beside the destination, keyed by job id. The
driver commits a task by renaming its winning attempt file; the job commit renames the whole
staging directory onto the destination (atomic on one filesystem) and then writes `_SUCCESS`
(a JSON manifest). Until then the destination, and any previous output there, is untouched.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

from gristmill.errors import OutputExistsError, UsageError
from gristmill.io.fs import is_url
from gristmill.io.lock import OutputLock

SUCCESS = "_SUCCESS"
QUARANTINE = "_quarantine"


class OutputCommitter:
    """Stages, commits or aborts the output of one job at `dest`."""

    def __init__(self, dest: str, job_id: str, *, overwrite: bool) -> None:
        if is_url(dest):
            raise UsageError(f"writing to URLs is not supported yet: {dest}")
        self.dest = os.path.abspath(dest)
        self.overwrite = overwrite
        self.job_id = job_id
        parent, name = os.path.split(self.dest.rstrip(os.sep))
        if not name:
            raise UsageError(f"output path has no name: {dest!r}")
        self.staging = os.path.join(parent, f".{name}.gristmill-{job_id}")
        self.attempts = os.path.join(self.staging, "_attempts")
        self.parts: list[dict[str, Any]] = []
        self.lock = OutputLock(self.dest, job_id)

    def check(self) -> None:
        """Refuse an existing destination before any work starts (unless overwriting)."""
        if os.path.lexists(self.dest) and not self.overwrite:
            raise OutputExistsError(
                f"output path already exists: {self.dest} (pass overwrite=True or --overwrite)"
            )

    def setup(self) -> None:
        """Lock the destination (refusing a concurrent writer), then create the staging area."""
        self.lock.acquire()
        self.check()
        os.makedirs(self.attempts)

    def commit_task(self, attempt_path: str, part_name: str, records: int, size: int) -> None:
        """Promote the first successful attempt of a task; the driver calls this once per task."""
        os.replace(attempt_path, os.path.join(self.staging, part_name))
        self.parts.append({"name": part_name, "bytes": size, "records": records})

    def commit_quarantine(self, paths: list[str]) -> None:
        """Move committed attempts' skipped-record files to ``_quarantine/`` in the output."""
        if not paths:
            return
        target = os.path.join(self.staging, QUARANTINE)
        os.makedirs(target, exist_ok=True)
        for path in paths:
            name = os.path.basename(path)
            stem, _attempt, ext = name.rsplit(".", 2)  # stage-S-task-I.aN.jsonl
            os.replace(path, os.path.join(target, f"{stem}.{ext}"))

    def commit_job(self, manifest: dict[str, Any]) -> list[str]:
        """Move the staged parts into place, then write `_SUCCESS` last; returns part paths."""
        self.check()
        shutil.rmtree(self.attempts, ignore_errors=True)
        trash = None
        if os.path.lexists(self.dest):
            trash = f"{self.staging}.old"
            os.rename(self.dest, trash)
        os.rename(self.staging, self.dest)
        parts = sorted(self.parts, key=lambda p: str(p["name"]))
        body = {"job_id": self.job_id, "files": parts, **manifest}
        tmp = os.path.join(self.dest, f".{SUCCESS}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(body, f, indent=1, sort_keys=True, default=str)
        os.replace(tmp, os.path.join(self.dest, SUCCESS))
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
        self.lock.release()
        return [os.path.join(self.dest, str(p["name"])) for p in parts]

    def abort(self) -> None:
        """Remove everything staged; the destination is untouched."""
        shutil.rmtree(self.staging, ignore_errors=True)
        self.lock.release()
