"""Composite functions of the keyed API, run through the engine against Python oracles."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import IO, Any

import pytest

import gristmill as gm


def test_join_spills_a_large_left_side_and_keeps_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spills: list[str] = []
    real = tempfile.TemporaryFile

    def recording(*args: Any, **kwargs: Any) -> IO[bytes]:
        spills.append(tempfile.gettempdir())
        return real(*args, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(tempfile, "TemporaryFile", recording)
    left = [("k", i) for i in range(120_000)] + [("j", -1)]  # one key past the in-memory limit
    right = [("k", "a"), ("j", "b"), ("k", "c")]
    cfg = gm.Config(executor="inline", progress=False, scratch_dir=str(tmp_path))
    got = gm.from_items(left, 3).join(gm.from_items(right, 1), partitions=2).collect(config=cfg)
    expected = {("k", (lv, rv)) for rv in ("a", "c") for lv in range(120_000)} | {("j", (-1, "b"))}
    assert len(got) == len(expected) and set(got) == expected
    k_pairs = [v for k, v in got if k == "k"]
    assert k_pairs == [(lv, rv) for rv in ("a", "c") for lv in range(120_000)]  # right-major
    assert spills and all(d.startswith(str(tmp_path)) for d in spills)  # spilled, in scratch
    assert list(tmp_path.iterdir()) == []  # and gone with the job
