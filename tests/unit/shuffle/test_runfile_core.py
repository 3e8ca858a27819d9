"""Run files round-trip, and a corrupted block is detected before anything is unpickled."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from gristmill.errors import DiskFullError
from gristmill.shuffle import runfile
from gristmill.shuffle.runfile import (
    CorruptShuffleError,
    ReadTally,
    RunWriter,
    read_frames,
    read_index,
)


def _write(path: Path) -> None:
    writer = RunWriter(str(path), keep_keys=True)
    writer.write_frame(0, [("a", 1), ("b", 2)])
    writer.write_frame(1, [("c", 3)])
    info = writer.close(family="str")
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


def test_spans_of_small_frames_read_back_every_frame_in_order(tmp_path: Path) -> None:
    path = tmp_path / "r.run"
    writer = RunWriter(str(path))
    batches = [[(p, i, "x" * (i % 50))] * (1 + i % 7) for p in range(3) for i in range(400)]
    for number, batch in enumerate(batches):
        writer.write_frame(number // 400, batch)
    writer.close(family="str")
    index = read_index(str(path))
    tally = ReadTally()
    assert list(read_frames(str(path), index, tally)) == batches  # spans over many frames
    assert tally.bytes == sum(f.length for f in index)
    gaps = index[::3]  # no two adjacent: one span each
    assert list(read_frames(str(path), gaps)) == batches[::3]


def test_a_truncated_run_names_the_first_missing_frame(tmp_path: Path) -> None:
    path = tmp_path / "r.run"
    writer = RunWriter(str(path))
    for i in range(20):
        writer.write_frame(0, [(i, "v" * 100)])
    writer.close(family="str")
    index = read_index(str(path))
    with path.open("r+b") as f:
        f.truncate(index[12].offset + 5)
    got = read_frames(str(path), index)
    assert [next(got) for _ in range(12)] == [[(i, "v" * 100)] for i in range(12)]
    with pytest.raises(CorruptShuffleError, match=f"@{index[12].offset}: truncated"):
        next(got)


def _full_disk(fd: int, buffers: Any) -> int:
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("buffer", [64, 1 << 20])  # full while writing a frame / at close
def test_a_full_disk_is_named_and_the_partial_run_removed(
    tmp_path: Path, buffer: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Frames wait to be written in batches: the disk fills while writing one or at close,
    # and abort must still remove the file (the pending frames are dropped).
    monkeypatch.setattr(runfile, "WRITE_BUFFER", buffer)
    monkeypatch.setattr(os, "writev", _full_disk)
    path = tmp_path / "r.run"
    writer = RunWriter(str(path))
    with pytest.raises(DiskFullError, match="no space left in scratch directory"):
        writer.write_frame(0, [(str(i), i) for i in range(1000)])  # lz4: more than 64 bytes
        assert buffer > 64  # a small batch was written with the frame
        writer.close(family="str")
    writer.abort()  # does not raise
    assert not path.exists()


def test_a_merge_spill_that_fills_the_disk_at_close_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its frames are small, so nothing is written before close: the disk fills there.
    from gristmill.shuffle.merge import spill_sorted

    monkeypatch.setattr(os, "writev", _full_disk)
    with pytest.raises(DiskFullError, match="no space left in scratch directory"):
        spill_sorted(iter([(i, "v") for i in range(100)]), str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_frames_written_in_batches_read_back_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Batches of a few frames, each writev cut short after 100 bytes: every byte still lands
    # once, in order (the oracle: the frames as written one by one with the batch off).
    import numpy as np

    real = os.writev
    calls = []

    def short(fd: int, buffers: list[Any]) -> int:
        calls.append(len(buffers))
        flat = b"".join(bytes(b) for b in buffers)
        return real(fd, [flat[:100]])

    rng = np.random.default_rng(3)
    blocks = [rng.integers(0, 256, (n, 100), dtype=np.uint8) for n in (1, 30, 7, 64, 2)]
    outputs = []
    for batch, writev, has_writev in ((1, real, True), (5000, short, True), (5000, real, False)):
        monkeypatch.setattr(runfile, "WRITE_BUFFER", batch)
        monkeypatch.setattr(os, "writev", writev)
        monkeypatch.setattr(runfile, "HAS_WRITEV", has_writev)  # False: one write a piece
        path = tmp_path / f"b{batch}{has_writev}.run"
        writer = RunWriter(str(path), record_size=100, key_size=10)
        for block in blocks:
            writer.write_frame(0, block, keys=(block[0, :10].tobytes(), block[-1, :10].tobytes()))
        info = writer.close(family="bytes")
        assert info.bytes == path.stat().st_size
        got = list(read_frames(str(path), read_index(str(path)), record_size=100))
        assert [g.tobytes() for g in got] == [b.tobytes() for b in blocks]
        outputs.append(path.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]
    assert max(calls) > 2  # batches of several buffers were written with one call


def test_block_frames_are_stored_as_they_are_and_checksummed(tmp_path: Path) -> None:
    import numpy as np

    path = tmp_path / "b.run"
    rng = np.random.default_rng(7)
    blocks = [rng.integers(0, 256, (n, 100), dtype=np.uint8) for n in (3, 1000, 17)]
    writer = RunWriter(str(path), record_size=100, key_size=10)
    for block in blocks:
        writer.write_frame(0, block, keys=(block[0, :10].tobytes(), block[-1, :10].tobytes()))
    info = writer.close(family="bytes")
    assert (info.record_size, info.key_size, info.records) == (100, 10, 1020)
    index = read_index(str(path))
    # Neither pickled nor compressed: each frame is its header and the rows' bytes.
    assert [f.length for f in index] == [16 + b.nbytes for b in blocks]  # header: 4+4+8 bytes
    raw = path.read_bytes()
    assert raw[index[1].offset + 16 : index[1].offset + index[1].length] == blocks[1].tobytes()
    got = list(read_frames(str(path), index, record_size=100))
    assert all(np.array_equal(g, b) for g, b in zip(got, blocks, strict=True))
    assert [g.shape for g in got] == [b.shape for b in blocks]

    corrupt = bytearray(raw)
    corrupt[index[1].offset + 500] ^= 0x01
    path.write_bytes(bytes(corrupt))
    with pytest.raises(CorruptShuffleError, match="checksum"):
        list(read_frames(str(path), index, record_size=100))
    path.write_bytes(raw)
    with pytest.raises(CorruptShuffleError, match="not a block of 64-byte rows"):
        list(read_frames(str(path), index, record_size=64))  # a layout that does not fit


def test_block_frames_can_be_compressed_and_read_back(tmp_path: Path) -> None:
    import numpy as np

    block = np.frombuffer(b"".join(b"%010d" % i + b"x" * 90 for i in range(2000)), np.uint8)
    block = block.reshape(-1, 100)
    sizes = {}
    for compress in (False, True):
        path = tmp_path / f"b{compress}.run"
        writer = RunWriter(str(path), record_size=100, key_size=10, compress=compress)
        writer.write_frame(0, block, keys=(block[0, :10].tobytes(), block[-1, :10].tobytes()))
        info = writer.close(family="bytes")
        assert info.packed is compress
        index = read_index(str(path))
        (got,) = read_frames(str(path), index, record_size=100, compressed=compress)
        assert np.array_equal(got, block)
        sizes[compress] = index[0].length
    assert sizes[True] < sizes[False] // 4  # the filler compresses


@pytest.mark.parametrize(
    ("value", "want"),
    [("1", True), ("yes", True), ("0", False), ("", False), ("False", False), ("OFF", False)],
)
def test_sort_run_compression_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, want: bool
) -> None:
    import gristmill as gm

    monkeypatch.setenv("GRISTMILL_COMPRESS_SORT_RUNS", value)
    assert gm.Config.resolve().compress_sort_runs is want


def test_a_block_frame_must_be_rows_of_the_run_layout(tmp_path: Path) -> None:
    import numpy as np

    writer = RunWriter(str(tmp_path / "b.run"), record_size=10, key_size=4)
    good = np.zeros((4, 10), np.uint8)
    for bad in (
        good.view(np.int16),
        np.zeros((4, 20), np.uint8)[:, ::2],
        np.zeros((4, 8), np.uint8),
    ):
        with pytest.raises(TypeError, match="C-contiguous uint8 array of 10-byte rows"):
            writer.write_frame(0, bad, keys=(b"aaaa", b"aaaa"))
    writer.write_frame(0, good, keys=(b"aaaa", b"aaaa"))
    writer.abort()


def test_a_compressed_frame_whose_header_lies_is_named_as_corrupt(tmp_path: Path) -> None:
    import struct

    import numpy as np

    path = tmp_path / "b.run"
    block = np.zeros((100, 10), np.uint8)
    writer = RunWriter(str(path), record_size=10, key_size=4, compress=True)
    writer.write_frame(0, block, keys=(b"\0" * 4, b"\0" * 4))
    writer.close(family="bytes")
    (frame,) = read_index(str(path))
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, frame.offset + 4, 10)  # raw length: 10 bytes, not 1000
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptShuffleError, match="does not decompress"):
        list(read_frames(str(path), [frame], record_size=10, compressed=True))


def test_a_run_file_of_another_format_version_is_named(tmp_path: Path) -> None:
    path = tmp_path / "r.run"
    _write(path)
    data = path.read_bytes()
    path.write_bytes(data[:-8] + b"GMRUN001")  # a replay bundle saved by an older version
    with pytest.raises(CorruptShuffleError, match="format GMRUN001 is not this version's"):
        read_index(str(path))


def test_a_replayed_sort_reducer_keeps_only_the_frames_of_its_key_range(tmp_path: Path) -> None:
    import numpy as np

    from gristmill.plan.logical import ShuffleKind
    from gristmill.plan.stages import ShuffleInput
    from gristmill.shuffle.reader import ReduceSource, frames_read

    path = tmp_path / "b.run"
    writer = RunWriter(str(path), record_size=10, key_size=1)
    for first in range(0, 100, 10):  # ten frames: keys 0-9, 10-19, ..., 90-99
        rows = np.zeros((10, 10), np.uint8)
        rows[:, 0] = np.arange(first, first + 10)
        writer.write_frame(0, rows, keys=(bytes([first]), bytes([first + 9])))
    run = writer.close(family="bytes")
    inp = ShuffleInput(0, 0, ShuffleKind.SORT, 3, None, ascending=True)
    source = ReduceSource((run,), boundaries=(bytes([25]), bytes([60])))
    firsts = [[f.first_key for f in frames_read(inp, source, p, run)] for p in range(3)]
    assert firsts == [
        [bytes([0]), bytes([10]), bytes([20])],  # keys below 25
        [bytes([20]), bytes([30]), bytes([40]), bytes([50])],  # 25 up to 60
        [bytes([60]), bytes([70]), bytes([80]), bytes([90])],  # 60 and above
    ]
