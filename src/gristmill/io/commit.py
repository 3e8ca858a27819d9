"""Output commit protocol: staged attempts, one committed attempt per task, atomic job commit.

Attempts write under a hidden staging directory beside the destination, keyed by job id. The
driver commits a task by renaming its winning attempt file; the job commit renames the whole
staging directory onto the destination (atomic on one filesystem) and then writes `_SUCCESS`
(a JSON manifest). Until then the destination, and any previous output there, is untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from typing import Any

from gristmill.errors import OutputExistsError, UsageError
from gristmill.faults import inject
from gristmill.io.fs import is_url
from gristmill.io.lock import OutputLock

SUCCESS = "_SUCCESS"
QUARANTINE = "_quarantine"
TASKS = "_tasks"  # committed task records, for --resume
PLAN = "_plan.json"  # the plan fingerprint a resumed run must match


class OutputCommitter:
    """Stages, commits or aborts the output of one job at `dest`."""

    def __init__(self, dest: str, job_id: str, *, overwrite: bool) -> None:
        if not dest.strip():  # abspath("") is the working directory: never the output
            raise UsageError(f"output path is empty: {dest!r}")
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
        ancestor = os.path.dirname(self.dest)
        while not os.path.lexists(ancestor):  # created at setup, from the nearest that exists
            ancestor = os.path.dirname(ancestor)
        if not os.path.isdir(ancestor):
            raise UsageError(f"output path {self.dest}: {ancestor} is not a directory")

    def setup(self, fingerprint: str, *, resume: bool = False) -> dict[int, dict[str, Any]]:
        """Lock the destination (refusing a concurrent writer), then create the staging area.

        With `resume`, the staging area of an earlier run of the same plan (whose driver was
        killed) is adopted instead, and its committed tasks are returned by index.
        """
        self.lock.acquire()
        self.check()
        if resume and (found := self._previous_staging(fingerprint)) is not None:
            self.staging = found
            self.attempts = os.path.join(found, "_attempts")
            os.makedirs(self.attempts, exist_ok=True)
            return self._committed_tasks()
        os.makedirs(self.attempts)
        with open(os.path.join(self.staging, PLAN), "w", encoding="utf-8") as f:
            json.dump({"fingerprint": fingerprint, "job_id": self.job_id}, f)
        return {}

    def _previous_staging(self, fingerprint: str) -> str | None:
        parent = os.path.dirname(self.staging)
        prefix = f".{os.path.basename(self.dest)}.gristmill-"
        for entry in sorted(os.listdir(parent), reverse=True):
            path = os.path.join(parent, entry)
            if not entry.startswith(prefix) or not os.path.isdir(path) or path == self.staging:
                continue
            try:
                with open(os.path.join(path, PLAN), encoding="utf-8") as f:
                    if json.load(f).get("fingerprint") == fingerprint:
                        return path
            except (OSError, ValueError):
                continue
        return None

    def _committed_tasks(self) -> dict[int, dict[str, Any]]:
        tasks: dict[int, dict[str, Any]] = {}
        folder = os.path.join(self.staging, TASKS)
        for entry in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            with open(os.path.join(folder, entry), encoding="utf-8") as f:
                record = json.load(f)
            if os.path.exists(os.path.join(self.staging, record["name"])):
                tasks[int(record["index"])] = record
                self.parts.append({k: record[k] for k in ("name", "bytes", "records")})
        return tasks

    def commit_task(
        self,
        index: int,
        attempt_path: str,
        part_name: str,
        *,
        records: int,
        size: int,
        counters: dict[str, int],
    ) -> None:
        """Promote the first successful attempt of a task; the driver calls this once per task.

        The task's record (with its counters) is saved too, so a resumed run can reuse it.
        """
        os.replace(attempt_path, os.path.join(self.staging, part_name))
        part = {"name": part_name, "bytes": size, "records": records}
        self.parts.append(part)
        folder = os.path.join(self.staging, TASKS)
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, f".{index:05d}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"index": index, "counters": counters, **part}, f)
        os.replace(tmp, os.path.join(folder, f"{index:05d}.json"))

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
        """Publish the output: `_SUCCESS` is written last, then one rename makes it visible.

        Writing the manifest inside staging before the rename means the destination is never
        seen without it; the staging area keeps its resume records until the manifest exists.
        Committing the same job again is detected (the manifest names the job) and changes
        nothing.
        """
        if self.committed_by_us():
            return [os.path.join(self.dest, str(p["name"])) for p in self._manifest()["files"]]
        self.check()
        shutil.rmtree(self.attempts, ignore_errors=True)
        parts = sorted(self.parts, key=lambda p: str(p["name"]))
        body = {"job_id": self.job_id, "files": parts, **manifest}
        tmp = os.path.join(self.staging, f".{SUCCESS}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(body, f, indent=1, sort_keys=True, default=str)
        os.replace(tmp, os.path.join(self.staging, SUCCESS))
        shutil.rmtree(os.path.join(self.staging, TASKS), ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.staging, PLAN))
        inject("job_commit")
        trash = None
        if os.path.lexists(self.dest):
            trash = f"{self.staging}.old"
            os.rename(self.dest, trash)
        os.rename(self.staging, self.dest)
        if trash is not None:
            _remove(trash)
        self._remove_orphans()
        self.lock.release()
        return [os.path.join(self.dest, str(p["name"])) for p in parts]

    def _manifest(self) -> dict[str, Any]:
        try:
            with open(os.path.join(self.dest, SUCCESS), encoding="utf-8") as f:
                body: dict[str, Any] = json.load(f)
                return body
        except (OSError, ValueError):
            return {}

    def committed_by_us(self) -> bool:
        """True once this job's output is in place (its manifest names this job id)."""
        return self._manifest().get("job_id") == self.job_id

    def _remove_orphans(self) -> None:
        """Staging left by killed runs of this destination (we hold its lock, so they are dead)."""
        parent = os.path.dirname(self.staging)
        prefix = f".{os.path.basename(self.dest)}.gristmill-"
        for entry in os.listdir(parent):
            path = os.path.join(parent, entry)
            # Staging directories, and the old output of an overwrite killed before it was
            # removed (a file, when a file was overwritten); never the lock we hold.
            if entry.startswith(prefix) and (os.path.isdir(path) or entry.endswith(".old")):
                _remove(path)

    def abort(self) -> None:
        """Remove everything staged; the destination is untouched."""
        shutil.rmtree(self.staging, ignore_errors=True)
        self.lock.release()


def _remove(path: str) -> None:
    """Remove a directory tree or a file (an overwritten output may have been either)."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
