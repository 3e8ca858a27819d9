"""Cached datasets: computed once, by the first job that needs them, and read back after.

`Dataset.cache()` wraps a plan in a `Cached` node. Before a job is planned, each `Cached` node
in it whose data is not there yet runs as a job of its own (as a broadcast side does) that
writes the dataset's partitions to a private directory under the scratch directory, one run
file of pickled frames per partition (record lists, pyarrow tables and binary blocks as they
are), through the usual staged commit; the node is then read as a `Format.FRAMES` source of
those files, a file to a task, so the partitioning is kept. Iterative jobs (PageRank, k-means)
then stop recomputing their whole history on every action, as with Spark's ``cache``.

The data goes with `Dataset.unpersist()` or at exit; the directory is a `Scratch`, so what a
killed process left is reclaimed by a later job, as job scratch is. Data found missing is
computed again. Must not import `runtime` but through `execute`'s callback.
"""

from __future__ import annotations

import atexit
import dataclasses
import glob
import itertools
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from gristmill.config import Config
from gristmill.io.scratch import Scratch
from gristmill.plan.logical import (
    Cached,
    FileSource,
    Format,
    Join,
    Narrow,
    Node,
    Shuffle,
    Source,
    Union,
)

_tokens = itertools.count(1)


@dataclass
class _Entry:
    folder: Scratch
    paths: tuple[str, ...]
    skipped: list[str] = field(default_factory=list)  # quarantine files not yet committed


_lock = threading.Lock()
_stored: dict[int, _Entry] = {}
_computing: dict[int, threading.Lock] = {}  # one computation per dataset, however many threads


def new_token() -> int:
    return next(_tokens)


def stored(token: int) -> tuple[str, ...] | None:
    """The part files of cached dataset `token`, if it has been computed and is all there."""
    with _lock:
        entry = _stored.get(token)
    if entry is None:
        return None
    if not all(os.path.exists(p) for p in entry.paths):  # removed under us: compute it again
        forget(token)
        return None
    return entry.paths


def forget(token: int) -> None:
    """Delete the data of cached dataset `token` (it is computed again if used again)."""
    with _lock:
        entry = _stored.pop(token, None)
    if entry is not None:
        entry.folder.close()


@atexit.register
def _forget_all() -> None:
    for token in list(_stored):
        forget(token)


Materialize = Callable[[Node, str], tuple[str, ...]]  # (plan, output dir) -> part files


def resolved(
    node: Node, cfg: Config, materialize: Materialize | None, quarantine: list[str] | None = None
) -> Node:
    """`node` with each `Cached` node replaced by a source of its stored data, computing that
    first with `materialize` where it is missing; without `materialize` (for `explain`), a
    missing one is planned as what it caches. The quarantine files of records skip mode left
    out while computing one are added to `quarantine` until a job commits them with its
    output (a ``count()`` first computing it does not)."""
    done: dict[int, Node] = {}  # by id: a sub-plan shared in the tree stays shared

    def walk(n: Node) -> Node:
        if id(n) in done:
            return done[id(n)]
        out: Node
        if isinstance(n, Cached):
            parent = walk(n.parent)
            paths = _ensure(n.token, parent, cfg, materialize)
            if paths is None:
                out = parent
            else:  # literal paths: a scratch directory may hold glob characters
                out = Source(FileSource(tuple(glob.escape(p) for p in paths), Format.FRAMES))
                if quarantine is not None:
                    quarantine.extend(_skipped(n.token))
        elif isinstance(n, (Narrow, Shuffle)):
            out = _replaced(n, parent=walk(n.parent))
        elif isinstance(n, Union):
            out = _replaced(n, parents=tuple(walk(p) for p in n.parents))
        elif isinstance(n, Join):
            out = _replaced(n, left=walk(n.left), right=walk(n.right))
        else:
            out = n
        done[id(n)] = out
        return out

    return walk(node)


def _replaced(node: Node, **changes: object) -> Node:
    """`node` itself where nothing under it changed (identity keeps shared plans shared)."""
    if all(getattr(node, k) is v for k, v in changes.items()):
        return node
    return dataclasses.replace(node, **changes)


def _skipped(token: int) -> list[str]:
    """Quarantine files of `token`'s computation that no job has committed yet."""
    with _lock:
        entry = _stored.get(token)
    return [] if entry is None else [p for p in entry.skipped if os.path.exists(p)]


def _ensure(
    token: int, parent: Node, cfg: Config, materialize: Materialize | None
) -> tuple[str, ...] | None:
    paths = stored(token)
    if paths is not None or materialize is None:
        return paths
    with _lock:
        computing = _computing.setdefault(token, threading.Lock())
    with computing:  # a second thread waits for the first one's data
        paths = stored(token)
        if paths is None:
            paths = _compute(token, parent, cfg, materialize)
    return paths


def _compute(token: int, parent: Node, cfg: Config, materialize: Materialize) -> tuple[str, ...]:
    folder = Scratch("gristmill-cache-", cfg.scratch_dir)  # reclaimed if this process is killed
    try:
        paths = materialize(parent, os.path.join(folder.path, "data"))
    except BaseException:
        folder.close()
        raise
    entry = _Entry(folder, paths)
    found = glob.glob(os.path.join(glob.escape(folder.path), "data", "_quarantine", "*.jsonl"))
    if found:
        kept = os.path.join(folder.path, "quarantine")
        os.makedirs(kept)
        for path in sorted(found):  # named apart from a job's own (stage-S-task-I.aN.jsonl)
            name = os.path.basename(path).removesuffix(".jsonl")
            entry.skipped.append(os.path.join(kept, f"cache-{token}-{name}.a0.jsonl"))
            os.replace(path, entry.skipped[-1])
    with _lock:
        _stored[token] = entry
    return paths
