"""Range partitioning for total-order sort, from key samples (as Hadoop's TotalOrderPartitioner).

Map tasks sample their keys; the driver picks `n - 1` boundaries at the sample quantiles;
reducer `p` then takes the keys between boundaries. Boundaries always ascend; a descending
sort maps partition `p` to range `n - 1 - p`.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

from gristmill.shuffle.order import TOTAL, key_family, order_key


def choose_boundaries(
    samples: list[Any], num_partitions: int, total: bool = False
) -> tuple[tuple[Any, ...], bool]:
    """The `num_partitions - 1` ascending cut points and whether the total order is needed:
    `total` (the runs' families differ), or samples that natural order cannot sort.

    >>> choose_boundaries(list(range(100)), 4)
    ((25, 50, 75), False)
    >>> choose_boundaries([3, None, 1, float("nan")], 2)
    ((3,), True)
    """
    total = total or key_family(samples) == TOTAL
    if not total:
        try:
            samples.sort()
        except TypeError:  # a user type whose order is not total after all
            total = True
    if total:
        samples.sort(key=order_key)
    if num_partitions <= 1 or not samples:
        return (), total
    cuts = tuple(samples[len(samples) * i // num_partitions] for i in range(1, num_partitions))
    return cuts, total


def range_index(key: Any, boundaries: Sequence[Any], total: bool) -> int:
    """Which ascending range (0 .. len(boundaries)) holds `key`."""
    if total:
        return bisect.bisect_right([order_key(b) for b in boundaries], order_key(key))
    return bisect.bisect_right(boundaries, key)
