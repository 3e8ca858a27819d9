"""File access: local paths through `os`, URLs (s3://, gs://, hdfs://) through fsspec.

Local disk is the common case and stays on the fast path; fsspec is imported only when a URL
is used. Must not import the engine.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from gristmill.errors import DiskFullError, InputNotFoundError

_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class FileInfo:
    """One input file as seen at planning time."""

    path: str
    size: int
    mtime: float


def is_url(path: str) -> bool:
    """True for ``scheme://...`` paths other than ``file://``."""
    return "://" in path and not path.startswith("file://")


def _local(path: str) -> str:
    return path[len("file://") :] if path.startswith("file://") else path


def _fsspec_fs(path: str) -> tuple[Any, str]:
    import fsspec

    fs, _, (root,) = fsspec.get_fs_token_paths(path)
    return fs, root


def _hidden(name: str) -> bool:
    # Hadoop convention: _SUCCESS, _temporary and dot files are metadata, never input.
    return name.startswith(("_", "."))


def list_inputs(paths: tuple[str, ...]) -> list[FileInfo]:
    """Expand files, directories (recursively) and globs into a sorted, de-duplicated list.

    A path that matches nothing raises `InputNotFoundError`, except a glob, which may
    legitimately match no files (an empty day of logs).
    """
    found: dict[str, FileInfo] = {}
    for raw in paths:
        for info in _expand_one(raw):
            found.setdefault(info.path, info)
    return [found[p] for p in sorted(found)]


def _expand_one(raw: str) -> list[FileInfo]:
    if is_url(raw):
        return _expand_url(raw)
    path = _local(raw)
    if _GLOB_CHARS & set(path):
        matches = sorted(glob.glob(path, recursive=True))
        return [info for m in matches for info in _expand_local(m)]
    if not os.path.exists(path):
        raise InputNotFoundError(f"input path does not exist: {raw}")
    return _expand_local(path)


def _expand_local(path: str) -> list[FileInfo]:
    if os.path.isdir(path):
        out: list[FileInfo] = []
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not _hidden(d))
            for name in sorted(files):
                if not _hidden(name):
                    out += _expand_local(os.path.join(root, name))
        return out
    st = os.stat(path)
    return [FileInfo(os.path.abspath(path), st.st_size, st.st_mtime)]


def _expand_url(raw: str) -> list[FileInfo]:
    fs, root = _fsspec_fs(raw)
    protocol = raw.split("://", 1)[0]
    if _GLOB_CHARS & set(root):
        names = sorted(fs.glob(root))
    elif fs.isdir(root):
        names = sorted(fs.find(root))
    elif fs.exists(root):
        names = [root]
    else:
        raise InputNotFoundError(f"input path does not exist: {raw}")
    out = []
    for name in names:
        if any(_hidden(part) for part in name.split("/")[len(root.split("/")) - 1 :]):
            continue
        info = fs.info(name)
        mtime = info.get("mtime") or info.get("LastModified") or 0.0
        mtime_val = mtime.timestamp() if hasattr(mtime, "timestamp") else float(mtime)
        out.append(FileInfo(f"{protocol}://{name}", int(info["size"]), mtime_val))
    return out


def open_binary(path: str) -> IO[bytes]:
    """Open a file for binary reading, local or URL."""
    if is_url(path):
        fs, root = _fsspec_fs(path)
        return fs.open(root, "rb")  # type: ignore[no-any-return]
    return open(_local(path), "rb")  # the caller owns and closes the handle


@contextlib.contextmanager
def space_checked(path: str, role: str) -> Iterator[None]:
    """Turn ENOSPC/EDQUOT while writing `path` into a `DiskFullError` naming its directory.

    >>> with space_checked("/tmp/x.run", "scratch directory"):
    ...     raise OSError(errno.ENOSPC, "No space left on device")
    Traceback (most recent call last):
    ...
    gristmill.errors.DiskFullError: no space left in scratch directory /tmp (writing /tmp/x.run)
    """
    try:
        yield
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        directory = os.path.dirname(os.path.abspath(path))
        raise DiskFullError(f"no space left in {role} {directory} (writing {path})") from exc
