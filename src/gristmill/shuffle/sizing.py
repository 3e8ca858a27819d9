"""Cheap estimates of the memory Python objects hold, for deciding when to spill.

Measuring every record would cost more than the work itself, so the estimator samples a few
records of each batch and keeps a running mean, as Spark's SizeEstimator does.
"""

from __future__ import annotations

import sys
from typing import Any

_CONTAINERS = (tuple, list)
DICT_ENTRY_OVERHEAD = 100  # bytes a dict entry costs beyond its key and value (slot, index)
# Of the worker budget, what a task's buffer or hash table may hold (map and reduce side);
# the rest covers input chunks, frames and user code.
BUFFER_SHARE = 0.4


def deep_size(obj: Any, depth: int = 3) -> int:
    """Approximate bytes held by `obj`, following tuples, lists and dicts a few levels down.

    >>> deep_size(("word", 1)) > sys.getsizeof(("word", 1))
    True
    """
    size = sys.getsizeof(obj)
    if depth <= 0:
        return size
    if isinstance(obj, _CONTAINERS):
        items = obj[:16]
        if items:
            sampled = sum(deep_size(x, depth - 1) for x in items)
            size += sampled * len(obj) // len(items)
    elif isinstance(obj, dict) and obj:
        pairs = list(obj.items())[:16]
        sampled = sum(deep_size(k, depth - 1) + deep_size(v, depth - 1) for k, v in pairs)
        size += sampled * len(obj) // len(pairs)
    return size


class SizeEstimator:
    """Running mean of sampled record sizes: a fixed number of samples per batch."""

    def __init__(self, per_batch: int = 16) -> None:
        self._per_batch = per_batch
        self._total = 0
        self._count = 0

    def observe(self, batch: list[Any]) -> None:
        step = max(1, len(batch) // self._per_batch)
        for record in batch[::step]:
            self._total += deep_size(record)
            self._count += 1

    @property
    def mean(self) -> int:
        return self._total // self._count if self._count else 64

    def table_bytes(self, entries: int, extra: int = 0) -> int:
        """What a dict of `entries` of the sampled records takes (plus `extra` per entry).

        >>> sizer = SizeEstimator()
        >>> sizer.observe([("k", 1)])
        >>> sizer.table_bytes(10) == 10 * (deep_size(("k", 1)) + DICT_ENTRY_OVERHEAD)
        True
        """
        return entries * (self.mean + DICT_ENTRY_OVERHEAD + extra)
