"""Input splits: byte ranges of files, aligned to lines when read.

Split boundaries depend only on the input and `split_size`, never on the worker count, which
is what makes output identical with 1 or N workers. Compressed files are one split each.
"""

from __future__ import annotations

from dataclasses import dataclass

from gristmill.io.fs import FileInfo

COMPRESSED_SUFFIXES = (".gz", ".bz2", ".zst")


@dataclass(frozen=True)
class FileSplit:
    """Bytes ``[start, end)`` of `path`; a line belongs to the split holding its first byte."""

    path: str
    start: int
    end: int
    file_size: int
    mtime: float

    @property
    def compressed(self) -> bool:
        return self.path.endswith(COMPRESSED_SUFFIXES)

    def describe(self) -> str:
        return f"{self.path}[{self.start}:{self.end}]"


def split_files(
    files: list[FileInfo], split_size: int, *, whole: bool = False
) -> tuple[FileSplit, ...]:
    """Cut each file into ranges of about `split_size` bytes (compressed files stay whole).

    With `whole`, every file is one split (formats such as Parquet that are not line-based).

    >>> [s.start for s in split_files([FileInfo("a.txt", 10, 0.0)], 4)]
    [0, 4, 8]
    """
    out: list[FileSplit] = []
    for f in files:
        if whole or f.path.endswith(COMPRESSED_SUFFIXES) or f.size <= split_size:
            out.append(FileSplit(f.path, 0, f.size, f.size, f.mtime))
            continue
        for start in range(0, f.size, split_size):
            out.append(FileSplit(f.path, start, min(start + split_size, f.size), f.size, f.mtime))
    return tuple(out)
