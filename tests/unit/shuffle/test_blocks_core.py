"""Columnar binary sort: numpy key order and both reduce paths against Python's sorted()."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gristmill.plan.functions import PrefixKey
from gristmill.plan.logical import ShuffleKind, ShuffleSpec
from gristmill.plan.stages import ShuffleOutput
from gristmill.shuffle import blocks
from gristmill.shuffle.blocks import BlockSortWriter, key_order, read_block_partition, runs_order
from gristmill.shuffle.ranges import choose_boundaries
from gristmill.shuffle.runfile import (
    CorruptShuffleError,
    ReadTally,
    RunInfo,
    read_index,
    read_rows_into,
)


def _records(n: int, size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, 256, size=(n, size), dtype=np.uint8)
    # Many rows share their first 8 bytes (ties decided by later key bytes) or the whole key.
    rows[: n // 2, :8] = rows[0, :8]
    rows[: n // 4, :size] = rows[0, :size]
    rows[: n // 4, -1] = np.arange(n // 4) % 256  # equal keys, distinguishable records
    return rows[rng.permutation(n)]


@pytest.mark.parametrize("key_size", [1, 3, 8, 10, 12])
def test_key_order_is_a_stable_bytewise_sort(key_size: int) -> None:
    rows = _records(5000, 16, seed=key_size)
    as_bytes = [r.tobytes() for r in rows]
    expected = sorted(range(len(rows)), key=lambda i: as_bytes[i][:key_size])
    assert key_order(rows, key_size).tolist() == expected


def _write_runs(
    rows: np.ndarray,
    tmp: Path,
    key_size: int,
    partitions: int,
    memory: int,
    *,
    compress: bool = False,
) -> tuple[tuple[RunInfo, ...], tuple[Any, ...]]:
    spec = ShuffleSpec(ShuffleKind.SORT, partitions, sort_key=PrefixKey(key_size))
    output = ShuffleOutput(0, spec, partitions)
    runs: list[RunInfo] = []
    samples: list[Any] = []
    for index, part in enumerate(np.array_split(rows, 3)):  # three map tasks
        writer = BlockSortWriter(output, index, str(tmp), memory, compress_blocks=compress)
        for start in range(0, len(part), 700):
            writer.write_batch(part[start : start + 700])
        out = writer.close()
        runs += out.runs
        samples += out.samples
    bounds, _ = choose_boundaries(samples, partitions)
    return tuple(runs), bounds


@pytest.mark.parametrize("memory", [64 * 1024**2, 200_000])  # sort at once / windowed merge
@pytest.mark.parametrize("read", ["preadv", "copy", "compressed"])  # how frames reach the buffer
def test_partitions_concatenate_to_the_sorted_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, memory: int, read: str
) -> None:
    monkeypatch.setattr(blocks, "HAS_PREADV", read == "preadv")
    rows = _records(30_000, 20, seed=7)
    runs, bounds = _write_runs(rows, tmp_path, 10, 4, 300_000, compress=read == "compressed")
    assert len(runs) > 3  # the small map budget forced spills
    assert all(run.packed == (read == "compressed") for run in runs)
    tally = ReadTally()
    out = [
        block.tobytes()
        for p in range(4)
        for block in read_block_partition(runs, bounds, p, memory, tally)
    ]
    records = [r.tobytes() for r in rows]
    expected = sorted(records, key=lambda r: r[:10])
    assert b"".join(out) == b"".join(expected)
    # Every frame overlapping a partition is read and counted whole, whichever way.
    assert sum(run.bytes for run in runs) <= tally.bytes <= 2 * sum(run.bytes for run in runs)


@pytest.mark.parametrize("read", ["preadv", "copy"])
def test_partitions_inside_one_frame_are_cut_at_both_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read: str
) -> None:
    # Frames of 1,000 rows and 30 partitions of ~330 rows: most partitions start and end
    # inside one frame of each run, so the first frame read is trimmed on both sides.
    monkeypatch.setattr(blocks, "HAS_PREADV", read == "preadv")
    monkeypatch.setattr(blocks, "MIN_FRAME_BYTES", 20_000)
    monkeypatch.setattr(blocks, "FRAME_BYTES", 20_000)
    rows = _records(10_000, 20, seed=13)
    runs, bounds = _write_runs(rows, tmp_path, 10, 30, 64 * 1024**2)
    parts = [
        b"".join(b.tobytes() for b in read_block_partition(runs, bounds, p, 1 << 26))
        for p in range(30)
    ]
    expected = sorted((r.tobytes() for r in rows), key=lambda r: r[:10])
    assert b"".join(parts) == b"".join(expected)
    assert sum(1 for part in parts if part) > 20  # the bounds really split the frames


def test_a_span_of_more_frames_than_iov_max_is_read_in_several_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One 20-byte row per frame: a 256KB span holds thousands of frames, two buffers each,
    # past Linux's 1,024 per preadv (a review found EINVAL here).
    monkeypatch.setattr(blocks, "MIN_FRAME_BYTES", 1)
    monkeypatch.setattr(blocks, "FRAME_BYTES", 1)
    rows = _records(3000, 20, seed=1)
    runs, bounds = _write_runs(rows, tmp_path, 10, 1, 64 * 1024**2)
    out = b"".join(b.tobytes() for b in read_block_partition(runs, bounds, 0, 64 * 1024**2))
    expected = sorted((r.tobytes() for r in rows), key=lambda r: r[:10])
    assert out == b"".join(expected)


def test_a_corrupt_or_truncated_frame_read_in_place_names_the_run_and_offset(
    tmp_path: Path,
) -> None:
    rows = _records(20_000, 20, seed=5)
    runs, bounds = _write_runs(rows, tmp_path, 10, 1, 64 * 1024**2)
    run = runs[0]
    frames = read_index(run.path)
    middle = frames[len(frames) // 2]
    with open(run.path, "r+b") as f:  # one byte of a row in a middle frame, read in place
        f.seek(middle.offset + 16 + 5)
        byte = f.read(1)
        f.seek(middle.offset + 16 + 5)
        f.write(bytes([byte[0] ^ 1]))
    with pytest.raises(CorruptShuffleError, match=f"@{middle.offset}: .*checksum"):
        list(read_block_partition(runs, bounds, 0, 64 * 1024**2))
    with open(run.path, "r+b") as f:
        f.truncate(middle.offset + 20)
    out = np.empty(sum(f.count for f in frames) * 20, dtype=np.uint8)
    with pytest.raises(CorruptShuffleError, match=f"@{middle.offset}: truncated"):
        read_rows_into(run.path, frames, out, 20)


def test_rows_read_in_place_survive_short_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _records(20_000, 20, seed=9)
    runs, bounds = _write_runs(rows, tmp_path, 10, 3, 64 * 1024**2)
    expected = [
        b.tobytes() for p in range(3) for b in read_block_partition(runs, bounds, p, 1 << 26)
    ]
    real = os.preadv

    def short(fd: int, buffers: list[Any], offset: int) -> int:  # at most 1000 bytes a call
        first = buffers[0]
        return real(fd, [first[: min(len(first), 1000)]], offset)

    monkeypatch.setattr(os, "preadv", short)
    got = [b.tobytes() for p in range(3) for b in read_block_partition(runs, bounds, p, 1 << 26)]
    assert got == expected


def test_a_hot_key_lands_in_one_partition_and_still_merges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gristmill.shuffle.blocks.FRAME_BYTES", 6000)  # hot key spans frames
    rows = _records(20_000, 12, seed=3)
    rows[:18_000, :4] = 7  # 90% of records share one 4-byte key
    rows = rows[np.random.default_rng(1).permutation(len(rows))]
    runs, bounds = _write_runs(rows, tmp_path, 4, 5, 100_000)
    sizes = [sum(len(b) for b in read_block_partition(runs, bounds, p, 100_000)) for p in range(5)]
    assert max(sizes) >= 18_000 and sum(sizes) == 20_000
    out = b"".join(
        b.tobytes() for p in range(5) for b in read_block_partition(runs, bounds, p, 100_000)
    )
    records = [r.tobytes() for r in rows]
    expected = sorted(records, key=lambda r: r[:4])
    assert out == b"".join(expected)


@pytest.mark.parametrize("partitions", [4, 40])
def test_reducers_read_little_more_than_their_slices_at_any_partition_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, partitions: int
) -> None:
    # At 10GB a sort has 215 partitions: a reducer's slice of each run was under one fixed
    # frame, so every frame was read twice. Frames now shrink with the slice.
    monkeypatch.setattr("gristmill.shuffle.blocks.MIN_FRAME_BYTES", 512)
    rows = _records(60_000, 20, seed=11)
    runs, bounds = _write_runs(rows, tmp_path, 10, partitions, 64 * 1024**2)
    tally = ReadTally()
    out = [
        block.tobytes()
        for p in range(partitions)
        for block in read_block_partition(runs, bounds, p, 64 * 1024**2, tally)
    ]
    expected = sorted((r.tobytes() for r in rows), key=lambda r: r[:10])
    assert b"".join(out) == b"".join(expected)
    assert tally.bytes <= 1.25 * sum(run.bytes for run in runs)


@pytest.mark.parametrize(("partitions", "maps"), [(215, 215), (4, 1), (2, 500)])
def test_the_key_sample_is_shared_out_among_the_map_tasks(partitions: int, maps: int) -> None:
    # A per-task sample of 20 keys per partition made the driver sort a million keys at
    # 10GB; the total is now about SAMPLES_PER_PARTITION per partition whatever the maps.
    from gristmill.shuffle.writer import MIN_SAMPLES, SAMPLES_PER_PARTITION, KeySampler

    sampler = KeySampler(partitions, maps)
    for start in range(0, 100_000, 1000):
        keys = list(range(start, start + 1000))
        sampler.extend(keys[sampler.picks(1000)], 1000)
    share = max(MIN_SAMPLES, SAMPLES_PER_PARTITION * partitions / maps)
    assert share <= len(sampler.sample) < 2 * share + 1
    assert sampler.sample == sorted(sampler.sample)  # spread over the whole input, in order
    assert sampler.sample[-1] >= 100_000 - 100_000 / share * 2


def _tied(n: int, pattern: str, seed: int) -> np.ndarray:
    """Random 16-byte rows whose keys tie as `pattern` says (above the packed sort's minimum)."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    if pattern == "few ties":  # 1% of rows copy another row's key: resolved among themselves
        dup = rng.choice(n, n // 100, replace=False)
        rows[dup, :12] = rows[rng.integers(0, n, len(dup)), :12]
    elif pattern == "ties the sample misses":  # every 9th row copies its neighbour's key
        step = n // blocks.TIE_SAMPLE
        rows[1::step, :12] = rows[0::step, :12][: len(rows[1::step])]
    elif pattern == "shared prefix":  # the first 6 bytes are one of 3 values
        rows[:, :6] = rng.integers(0, 3, size=(n, 1), dtype=np.uint8)
    return rows


needs_radix = pytest.mark.skipif(blocks.sort_high_bits is None, reason="built without a C compiler")


def test_the_radix_sort_is_built_where_ci_requires_it() -> None:
    if os.environ.get("GRISTMILL_REQUIRE_C_EXTENSIONS") == "1":
        assert blocks.sort_high_bits is not None


@needs_radix
@pytest.mark.parametrize("low", [0, 1, 19, 40, 63, 64])
@pytest.mark.parametrize("n", [0, 1, 2, 1000, 70_000])
def test_the_radix_sort_orders_by_the_high_bits_keeping_input_order_for_ties(
    low: int, n: int
) -> None:
    assert blocks.sort_high_bits is not None
    rng = np.random.default_rng(n + low)
    values = rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True)
    values[: n // 3] = values[n // 2 : n // 2 + n // 3] ^ np.uint64(5)  # ties in the high bits
    values[n // 5 : n // 4] = 0  # and whole runs of one value (some passes skipped)
    high = [int(v) >> low for v in values.tolist()]
    expected = [values[i] for i in sorted(range(n), key=high.__getitem__)]  # sorted() is stable
    got = values.copy()
    blocks.sort_high_bits(got, low)
    assert got.tolist() == [int(v) for v in expected]


@needs_radix
def test_the_radix_sort_rejects_what_it_cannot_sort_in_place() -> None:
    assert blocks.sort_high_bits is not None
    with pytest.raises(TypeError, match="uint64"):
        blocks.sort_high_bits(np.zeros(4, dtype=np.int64), 0)
    with pytest.raises(TypeError, match="uint64"):
        blocks.sort_high_bits(np.zeros(4, dtype=np.uint32), 0)
    with pytest.raises((TypeError, ValueError, BufferError)):
        blocks.sort_high_bits(np.zeros(8, dtype=np.uint64)[::2], 0)  # not contiguous
    frozen = np.zeros(4, dtype=np.uint64)
    frozen.flags.writeable = False
    with pytest.raises((TypeError, ValueError, BufferError)):
        blocks.sort_high_bits(frozen, 0)
    with pytest.raises(ValueError, match="low"):
        blocks.sort_high_bits(np.zeros(4, dtype=np.uint64), 65)


@needs_radix
def test_a_thread_writing_the_array_meanwhile_cannot_make_the_sort_write_out_of_bounds() -> None:
    # The sort releases the GIL and counts digits before its passes: values changed by
    # another thread overfilled a digit's slots and wrote past the buffers (a segfault in
    # the second of these attempts before the bounds check). Now the order is garbage, and
    # the process lives: what this test checks.
    assert blocks.sort_high_bits is not None
    for _ in range(8):
        values = np.zeros(2_000_000, dtype=np.uint64)
        values[::2] = 1
        stop = threading.Event()

        def flip(values: np.ndarray = values, stop: threading.Event = stop) -> None:
            while not stop.is_set():
                values.fill(2**64 - 1)
                values.fill(0)

        writer = threading.Thread(target=flip)
        writer.start()
        blocks.sort_high_bits(values, 0)
        stop.set()
        writer.join()


@pytest.mark.parametrize("sorter", ["radix", "numpy"])
@pytest.mark.parametrize(
    "pattern", ["distinct", "few ties", "ties the sample misses", "shared prefix"]
)
@pytest.mark.parametrize("key_size", [3, 8, 10, 12])
def test_key_order_of_unordered_rows_is_stable_whatever_the_ties(
    monkeypatch: pytest.MonkeyPatch,
    count_calls: Callable[[Any, str], list[int]],
    pattern: str,
    key_size: int,
    sorter: str,
) -> None:
    if sorter == "numpy":
        monkeypatch.setattr(blocks, "sort_high_bits", None)
    elif blocks.sort_high_bits is None:
        pytest.skip("built without a C compiler")
    rows = _tied(40_000, pattern, seed=key_size)
    fallbacks = count_calls(blocks, "_stable_order")
    as_bytes = [r.tobytes()[:key_size] for r in rows]
    expected = sorted(range(len(rows)), key=as_bytes.__getitem__)
    assert key_order(rows, key_size).tolist() == expected
    # Which path ran: the stable argsort where many keys tie; the packed sort alone for
    # distinct 8-byte prefixes and a few ties (3-byte keys may tie by the birthday bound).
    if pattern in ("ties the sample misses", "shared prefix"):
        assert fallbacks
    elif key_size >= 8:
        assert not fallbacks


@pytest.mark.parametrize("ties", [True, False])
@pytest.mark.parametrize("sorter", ["radix", "numpy"])
def test_runs_order_merges_sorted_runs_stably(
    monkeypatch: pytest.MonkeyPatch, sorter: str, ties: bool
) -> None:
    if sorter == "numpy":
        monkeypatch.setattr(blocks, "sort_high_bits", None)
    elif blocks.sort_high_bits is None:
        pytest.skip("built without a C compiler")
    rows = _records(24_000, 16, seed=5) if ties else _tied(24_000, "few ties", seed=5)
    runs = np.array_split(rows, 7)
    data = np.concatenate([run[key_order(run, 10)] for run in runs])
    as_bytes = [r.tobytes()[:10] for r in data]
    expected = sorted(range(len(data)), key=as_bytes.__getitem__)
    assert runs_order(data, 10).tolist() == expected
