"""Ray Data word count: read_text, flat_map each line to its words, groupby("word").count(),
on a local Ray started with WORKERS CPUs, bound to 127.0.0.1, dashboard off.

usage: python -m benchmarks.peers.ray_wordcount INPUT OUTPUT_FILE WORKERS
"""

from __future__ import annotations

import os
import sys
from typing import Any

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # before `import ray`

import ray


def words(row: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"word": w} for w in row["text"].split()]


def main() -> None:
    src, dst, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ray.init(num_cpus=workers, _node_ip_address="127.0.0.1", include_dashboard=False)
    try:
        counts = ray.data.read_text(src).flat_map(words).groupby("word").count()
        with open(dst, "w", encoding="utf-8") as out:
            for batch in counts.iter_batches(batch_format="pyarrow"):
                pairs = zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True)
                out.writelines(f"{word}\t{n}\n" for word, n in pairs)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
