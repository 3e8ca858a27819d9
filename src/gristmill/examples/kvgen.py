"""Seeded ``key<TAB>value`` lines for the high-cardinality reduce benchmark.

Keys ``k00000000``... are drawn uniformly from `keys_for(size)` distinct keys: 10 million at
1 GiB, scaled linearly below and above (about 1 million at 100 MB), so each key appears about
7 times whatever the size. Values are integers 0-999. The same seed and size give
byte-identical files. Vectorized with numpy; imports nothing from the engine.
"""

from __future__ import annotations

from typing import Any

from gristmill.examples.sized import write_sized

KEYS_PER_GIB = 10_000_000
LINES_PER_CHUNK = 200_000


def keys_for(size_bytes: int) -> int:
    """Distinct keys for an input of `size_bytes`: 10 million per GiB, at least one.

    >>> keys_for(1024**3), keys_for(100 * 1024**2), keys_for(1024)
    (10000000, 976562, 9)
    """
    return max(1, size_bytes * KEYS_PER_GIB // 1024**3)


def _chunk(rng: Any, keys: int) -> bytes:
    drawn = rng.integers(0, keys, LINES_PER_CHUNK).tolist()
    values = rng.integers(0, 1000, LINES_PER_CHUNK).tolist()
    return "".join(f"k{k:08d}\t{v}\n" for k, v in zip(drawn, values, strict=True)).encode()


def generate_pairs(path: str, size_bytes: int, *, seed: int = 0, keys: int | None = None) -> int:
    """Write about `size_bytes` of whole ``key<TAB>value`` lines to `path`; returns the bytes."""
    import numpy as np

    keys = keys or keys_for(size_bytes)
    rng = np.random.default_rng([seed, keys])
    return write_sized(path, size_bytes, iter(lambda: _chunk(rng, keys), b""))
