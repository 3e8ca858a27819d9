"""Write generated rows to a file of about a given size, ending on a whole row, atomically."""

from __future__ import annotations

import os
from collections.abc import Iterator


def write_sized(path: str, size_bytes: int, chunks: Iterator[bytes], header: bytes = b"") -> int:
    """Write `header`, then `chunks` (each whole ``\\n``-ended rows) until `size_bytes`, cutting
    the last chunk after a whole row; returns the bytes written. The file appears only complete.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "f")
    >>> write_sized(p, 5, iter([b"ab\\ncd\\nef\\n"] * 3), b"h\\n"), open(p, "rb").read()
    (5, b'h\\nab\\n')
    """
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as out:
        out.write(header)
        written = len(header)
        for data in chunks:
            if written >= size_bytes:
                break
            room = size_bytes - written
            last = len(data) >= room  # the file ends inside this chunk, on a whole row
            if len(data) > room:
                cut = data.rfind(b"\n", 0, room) + 1
                data = data[: cut or data.find(b"\n") + 1]
            out.write(data)
            written += len(data)
            if last:
                break
    os.replace(tmp, path)
    return written
