"""Cached datasets: computed once, by the first job that needs them, and read back after.

`Dataset.cache()` wraps a plan in a `Cached` node. Before a job is planned, each `Cached` node
in it whose data is not there yet runs as a job of its own (as a broadcast side does) that
writes the dataset's partitions to a private directory under the scratch directory, one run
file of pickled record frames per partition, through the usual staged commit; the node is
then read as a `Format.FRAMES` source of those files, a file to a task, so the partitioning is
kept. Iterative jobs (PageRank, k-means) then stop recomputing their whole history on every
action, as with Spark's ``cache``. The files go with `Dataset.unpersist()` or at exit.
"""

from __future__ import annotations

import atexit
import dataclasses
import glob
import itertools
import os
import shutil
import tempfile
import threading
from collections.abc import Callable

from gristmill.config import Config
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
_lock = threading.Lock()
_stored: dict[int, tuple[str, tuple[str, ...]]] = {}  # token -> (directory, part files)


def new_token() -> int:
    return next(_tokens)


def stored(token: int) -> tuple[str, ...] | None:
    """The part files of cached dataset `token`, if it has been computed."""
    with _lock:
        entry = _stored.get(token)
    return None if entry is None else entry[1]


def forget(token: int) -> None:
    """Delete the data of cached dataset `token` (it is computed again if used again)."""
    with _lock:
        entry = _stored.pop(token, None)
    if entry is not None:
        shutil.rmtree(entry[0], ignore_errors=True)


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
    missing one is planned as what it caches. Records skip mode left out while computing one
    are added to `quarantine` (files), for the job that needed it to commit with its own."""
    done: dict[int, Node] = {}  # by id: a sub-plan shared in the tree stays shared

    def walk(n: Node) -> Node:
        if id(n) in done:
            return done[id(n)]
        out: Node
        if isinstance(n, Cached):
            parent = walk(n.parent)
            paths = stored(n.token)
            if paths is None and materialize is not None:
                paths = _compute(n.token, parent, cfg, materialize, quarantine)
            out = parent if paths is None else Source(FileSource(paths, Format.FRAMES))
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


def _compute(
    token: int,
    parent: Node,
    cfg: Config,
    materialize: Materialize,
    quarantine: list[str] | None,
) -> tuple[str, ...]:
    os.makedirs(cfg.scratch_dir, exist_ok=True)
    _sweep(cfg.scratch_dir)
    folder = tempfile.mkdtemp(prefix=f"gristmill-cache-{os.getpid()}-", dir=cfg.scratch_dir)
    try:
        paths = materialize(parent, os.path.join(folder, "data"))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    with _lock:
        _stored[token] = (folder, paths)
    skipped = sorted(glob.glob(os.path.join(folder, "data", "_quarantine", "*.jsonl")))
    if quarantine is not None and skipped:
        kept = os.path.join(folder, "quarantine")
        os.makedirs(kept)
        for path in skipped:  # named apart from the job's own (stage-S-task-I.aN.jsonl)
            name = os.path.basename(path).removesuffix(".jsonl")
            quarantine.append(os.path.join(kept, f"cache-{token}-{name}.a0.jsonl"))
            os.replace(path, quarantine[-1])
    return paths


def _sweep(scratch: str) -> None:
    """Remove the cached data of processes that died without their exit handler (killed)."""
    for folder in glob.glob(os.path.join(scratch, "gristmill-cache-*-*")):
        pid = os.path.basename(folder).split("-")[2]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # no signal: only whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
