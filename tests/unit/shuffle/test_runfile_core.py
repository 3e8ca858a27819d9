"""Run files round-trip, and a corrupted block is detected before anything is unpickled."""

from __future__ import annotations

from pathlib import Path

import pytest

from gristmill.shuffle.runfile import CorruptShuffleError, RunWriter, read_frames, read_index


def _write(path: Path) -> None:
    writer = RunWriter(str(path), keep_keys=True)
    writer.write_frame(0, [("a", 1), ("b", 2)])
    writer.write_frame(1, [("c", 3)])
    info = writer.close(total_order=False)
    assert info.records == 3


def test_round_trip_by_partition(tmp_path: Path) -> None:
    path = tmp_path / "r.run"
    _write(path)
    index = read_index(str(path))
    assert [(f.partition, f.count, f.first_key, f.last_key) for f in index] == [
        (0, 2, "a", "b"),
        (1, 1, "c", "c"),
    ]
    part1 = [f for f in index if f.partition == 1]
    assert list(read_frames(str(path), part1)) == [[("c", 3)]]


def test_flipped_byte_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "r.run"
    _write(path)
    index = read_index(str(path))
    data = bytearray(path.read_bytes())
    data[index[0].offset + 14] ^= 0xFF  # inside the first frame's compressed payload
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptShuffleError, match="checksum"):
        list(read_frames(str(path), index))
