"""The built-in example pipelines behind `gristmill example NAME`.

Plain Dataset pipelines, importable so tests and the demo run exactly what the CLI runs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import gristmill as gm


def wordcount(inputs: Sequence[str]) -> gm.Dataset:
    """``(word, count)`` for every whitespace-separated word.

    `count_by_value` counts whole batches in C, which is why it is the form used here.
    """
    return gm.read_text(inputs).flat_map(str.split).count_by_value()


@dataclass(frozen=True)
class Matches:
    """A picklable line predicate: does `pattern` match anywhere in the line."""

    pattern: str
    _compiled: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __call__(self, line: str) -> bool:
        compiled = self._compiled
        if compiled is None:
            compiled = re.compile(self.pattern)
            object.__setattr__(self, "_compiled", compiled)
        return compiled.search(line) is not None

    def __getstate__(self) -> dict[str, object]:
        return {"pattern": self.pattern, "_compiled": None}


def grep(inputs: Sequence[str], pattern: str) -> gm.Dataset:
    """Lines matching the regular expression `pattern`, in input order."""
    try:
        re.compile(pattern)
    except re.error as exc:
        raise gm.UsageError(f"invalid --pattern {pattern!r}: {exc}") from None
    return gm.read_text(inputs).filter(Matches(pattern))
