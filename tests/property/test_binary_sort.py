"""Sorting binary records by a key prefix equals Python's stable sorted(), columnar or not."""

from __future__ import annotations

import os
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

import gristmill as gm


@st.composite
def record_files(draw: st.DrawFn) -> tuple[int, int, list[bytes]]:
    size = draw(st.integers(1, 12))
    key = draw(st.integers(1, size))
    alphabet = draw(st.sampled_from([b"\x00\xff", b"ab", bytes(range(256))]))  # ties and skew
    byte = st.sampled_from(list(alphabet))
    record = st.lists(byte, min_size=size, max_size=size).map(bytes)
    return size, key, draw(st.lists(record, max_size=400))


@settings(max_examples=40, deadline=None)
@given(record_files(), st.integers(1, 6), st.integers(1, 5))
def test_prefix_sort_matches_sorted(
    case: tuple[int, int, list[bytes]], split: int, parts: int
) -> None:
    size, key, records = case
    expected = sorted(records, key=lambda r: r[:key])
    config = gm.Config(
        executor="inline", progress=False, memory=1024**2, split_size=split * size * 37
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "in.bin")
        with open(path, "wb") as f:
            f.write(b"".join(records))
        ds = gm.read_binary_records(path, size)
        columnar = ds.sort_by(gm.prefix_key(key), partitions=parts).collect(config=config)
        assert columnar == expected
        # Through a map the records are bytes objects, sorted by the generic shuffle.
        generic = ds.map(bytes).sort_by(gm.prefix_key(key), partitions=parts).collect(config=config)
        assert generic == expected
