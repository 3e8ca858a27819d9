"""Skip mode's record of what was skipped: one JSON line per bad record, with where and why.

Each task attempt writes its own file; the driver keeps only committed attempts' files and
moves them to ``OUTPUT/_quarantine/`` with the output, so nothing bad is ever silently dropped.
"""

from __future__ import annotations

import json
from typing import IO, Any

EXCERPT = 200
COUNTER = "bad_records.skipped"
SKIPPED_SHOWN = 3  # bad records a job failed over its budget names in its error


class Quarantine:
    """Collects bad records of one task attempt into `path` (created on the first one)."""

    def __init__(self, path: str, counters: dict[str, int]) -> None:
        self.path = path
        self.count = 0
        self._counters = counters
        self._file: IO[str] | None = None

    def __call__(self, location: str, error: str, record: Any = None) -> None:
        if self._file is None:
            self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        entry = {"location": location, "error": error}
        if record is not None:
            entry["record"] = repr(record)[:EXCERPT]
        self._file.write(json.dumps(entry) + "\n")
        self.count += 1
        self._counters[COUNTER] = self.count

    def close(self) -> str | None:
        """The file's path if anything was quarantined."""
        if self._file is None:
            return None
        self._file.close()
        return self.path


def skipped_lines(path: str, limit: int) -> list[str]:
    """The first `limit` entries of quarantine file `path` as ``location: error: record``
    lines (none if it cannot be read: the error is worth raising without them)."""
    lines: list[str] = []
    try:
        with open(path, encoding="utf-8") as f:
            for raw in f:
                entry = json.loads(raw)
                record = f": {entry['record']}" if "record" in entry else ""
                lines.append(f"{entry['location']}: {entry['error']}{record}")
                if len(lines) == limit:
                    break
    except (OSError, ValueError, KeyError):
        pass
    return lines


def entry_count(path: str) -> int:
    """How many skipped records quarantine file `path` holds (one JSON line each)."""
    with open(path, "rb") as f:
        return sum(1 for _ in f)
