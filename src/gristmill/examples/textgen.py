"""Seeded text corpus generator for `make demo` and the benchmarks.

Zipf-distributed words (p(rank) ~ 1/rank^1.1) from a fixed pseudo-word vocabulary, 5-15 words a
line; the same seed and size give byte-identical files. Vectorized with numpy; it imports
nothing from the engine (only `config.parse_size` for its CLI), so benchmarks can feed any peer.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

LINES_PER_CHUNK = 200_000
LETTERS = b"abcdefghijklmnopqrstuvwxyz"


def vocabulary(size: int, seed: int) -> list[bytes]:
    """`size` distinct lowercase pseudo-words of 3-10 letters, fixed by `seed`."""
    import numpy as np

    rng = np.random.default_rng(seed)
    letters = np.frombuffer(LETTERS, dtype=np.uint8)
    words: dict[bytes, None] = {}
    while len(words) < size:
        n = size - len(words) + 1024
        lengths = rng.integers(3, 11, n)
        codes = letters[rng.integers(0, 26, int(lengths.sum()))].tobytes()
        ends = np.cumsum(lengths)
        for start, end in zip((ends - lengths).tolist(), ends.tolist(), strict=True):
            words.setdefault(codes[start:end], None)
            if len(words) == size:
                break
    return list(words)


def _chunk(rng: Any, cdf: Any, spaced: Any, ended: Any) -> bytes:
    import numpy as np

    counts = rng.integers(5, 16, LINES_PER_CHUNK)
    ranks = np.searchsorted(cdf, rng.random(int(counts.sum())), side="right")
    tokens = spaced[ranks]
    last = np.cumsum(counts) - 1
    tokens[last] = ended[ranks[last]]
    return b"".join(tokens.tolist())


def generate_text(path: str, size_bytes: int, *, seed: int = 0, vocab_size: int = 100_000) -> int:
    """Write about `size_bytes` of text (whole lines) to `path`; returns the bytes written."""
    import numpy as np

    words = vocabulary(vocab_size, seed)
    weights = 1.0 / np.arange(1, vocab_size + 1, dtype=np.float64) ** 1.1
    cdf = np.cumsum(weights / weights.sum())
    cdf[-1] = 1.0
    spaced = np.array([w + b" " for w in words], dtype=object)
    ended = np.array([w + b"\n" for w in words], dtype=object)
    rng = np.random.default_rng(seed + 1)
    tmp = f"{path}.tmp-{os.getpid()}"
    written = 0
    with open(tmp, "wb") as out:
        while written < size_bytes:
            data = _chunk(rng, cdf, spaced, ended)
            room = size_bytes - written
            if len(data) > room:
                cut = data.rfind(b"\n", 0, room) + 1
                data = data[: cut or data.find(b"\n") + 1]
            out.write(data)
            written += len(data)
    os.replace(tmp, path)
    return written


def main(argv: list[str] | None = None) -> None:
    from gristmill.config import parse_size

    parser = argparse.ArgumentParser(description="Generate a seeded Zipf text corpus.")
    parser.add_argument("output")
    parser.add_argument("--size", default="100MB", help="binary units: 1KB, 100MB, 1GB")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    written = generate_text(args.output, parse_size(args.size), seed=args.seed)
    print(f"wrote {written} bytes to {args.output}")


if __name__ == "__main__":
    main()
