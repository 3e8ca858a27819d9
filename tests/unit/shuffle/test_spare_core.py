"""The spare sort buffer: reused across consecutive sort tasks, freed by any other task, and
never a source of stale bytes in a sort's output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gristmill.shuffle import spare
from gristmill.shuffle.blocks import read_block_partition


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spare, "_enabled", False)
    monkeypatch.setattr(spare, "_spare", None)
    monkeypatch.setattr(spare, "_used", False)
    monkeypatch.setattr(spare, "_stage", None)


def test_nothing_is_kept_unless_enabled() -> None:
    first = spare.borrow(10, 8)
    spare.give_back(first)
    assert not np.shares_memory(spare.borrow(10, 8), first)


def test_a_returned_buffer_serves_the_next_borrow_of_its_size_or_less() -> None:
    spare.enable()
    first = spare.borrow(100, 10)
    spare.give_back(first)
    smaller = spare.borrow(20, 10)
    assert np.shares_memory(smaller, first) and smaller.shape == (20, 10)
    spare.give_back(smaller)  # the whole buffer comes back, not the view
    bigger = spare.borrow(200, 10)
    assert not np.shares_memory(bigger, first)


def test_a_task_that_does_not_borrow_frees_the_spare() -> None:
    spare.enable()
    first = spare.borrow(50, 4)
    spare.give_back(first)
    spare.task_done()  # the task that borrowed it: kept
    kept = spare.borrow(50, 4)
    assert np.shares_memory(kept, first)
    spare.give_back(kept)
    spare.task_done()
    spare.task_done()  # a task that never borrowed: freed
    assert not np.shares_memory(spare.borrow(50, 4), first)


def test_a_task_of_another_stage_starts_without_the_spare() -> None:
    spare.enable()
    spare.task_start(("job", 0))
    first = spare.borrow(50, 4)
    spare.give_back(first)
    spare.task_done()
    spare.task_start(("job", 0))  # the same stage: kept for it
    assert spare._spare is not None
    spare.task_start(("job", 1))  # another stage's work never runs beside it
    assert spare._spare is None


def test_a_reducer_that_merges_frees_the_spare(tmp_path: Path) -> None:
    from test_blocks_core import _records, _write_runs

    spare.enable()
    runs, bounds = _write_runs(_records(30_000, 20, seed=5), tmp_path, 10, 4, 300_000)
    spare.give_back(spare.borrow(1000, 100))
    blocks = list(read_block_partition(runs, bounds, 0, 200_000))  # too big to gather: merge
    assert blocks and spare._spare is None


def test_consecutive_sorts_through_one_spare_stay_correct(tmp_path: Path) -> None:
    # The second sort's buffer holds the first one's bytes past its own records: they must
    # never reach its output.
    from test_blocks_core import _records, _write_runs

    spare.enable()
    for round_, n in enumerate((30_000, 7_000)):
        rows = _records(n, 20, seed=round_)
        folder = tmp_path / str(round_)
        folder.mkdir()
        runs, bounds = _write_runs(rows, folder, 10, 4, 64 * 1024**2)
        out = [b.tobytes() for p in range(4) for b in read_block_partition(runs, bounds, p, 10**8)]
        spare.task_done()
        expected = sorted((r.tobytes() for r in rows), key=lambda r: r[:10])
        assert b"".join(out) == b"".join(expected)
