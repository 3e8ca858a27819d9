"""Range partitioning for total-order sort, from key samples (as Hadoop's TotalOrderPartitioner).

Map tasks sample their keys; the driver picks `n - 1` boundaries at the sample quantiles;
reducer `p` then takes the keys between boundaries. Boundaries always ascend; a descending
sort maps partition `p` to range `n - 1 - p`.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

from gristmill.shuffle.keys import order_key


def sort_keys(keys: list[Any]) -> bool:
    """Sort `keys` in place; True if mixed types forced the fallback total order."""
    try:
        keys.sort()
        return False
    except TypeError:
        keys.sort(key=order_key)
        return True


def choose_boundaries(samples: list[Any], num_partitions: int) -> tuple[tuple[Any, ...], bool]:
    """The `num_partitions - 1` ascending cut points and whether the fallback order is needed.

    >>> choose_boundaries(list(range(100)), 4)
    ((25, 50, 75), False)
    """
    total = sort_keys(samples)
    if num_partitions <= 1 or not samples:
        return (), total
    cuts = tuple(samples[len(samples) * i // num_partitions] for i in range(1, num_partitions))
    return cuts, total


def range_index(key: Any, boundaries: Sequence[Any], total: bool) -> int:
    """Which ascending range (0 .. len(boundaries)) holds `key`."""
    if total:
        return bisect.bisect_right([order_key(b) for b in boundaries], order_key(key))
    return bisect.bisect_right(boundaries, key)
