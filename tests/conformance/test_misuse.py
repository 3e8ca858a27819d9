"""Misuse and bad input found by a probe of every entry point: each gets a clear error that
names the culprit, and nothing is lost or left behind."""

from __future__ import annotations

import collections
import json
import operator
import os
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import gristmill as gm


def _cfg(executor: str = "inline", **kw: object) -> gm.Config:
    return gm.Config(executor=executor, workers=2, progress=False, max_attempts=1, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("split_size", -1, "split_size must be at least 1 byte"),  # read nothing, succeeded
        ("workers", "2", "workers must be an int"),
        ("max_attempts", 2.5, "max_attempts must be an int"),
    ],
)
def test_config_refuses_values_that_would_fail_far_away(
    field: str, value: object, says: str
) -> None:
    with pytest.raises(gm.UsageError, match=says):
        gm.Config(**{field: value})  # type: ignore[arg-type]


def test_numpy_integers_are_ints_and_a_split_size_of_0_is_sized_by_input() -> None:
    import numpy as np

    cfg = gm.Config(executor="inline", workers=np.int64(2), split_size=0, progress=False)  # type: ignore[arg-type]
    assert (cfg.workers, type(cfg.workers), cfg.split_size) == (2, int, None)
    ds = gm.from_items(range(10), partitions=np.int64(3))  # type: ignore[arg-type]
    assert ds.take(np.int64(2), config=cfg) == [0, 1]  # type: ignore[arg-type]
    assert ds.top(np.int32(1), config=cfg) == [9]  # type: ignore[arg-type]
    assert sorted(
        ds.map(lambda x: (x % 2, 1)).reduce_by_key(int.__add__, np.int8(2)).collect(config=cfg)  # type: ignore[arg-type]
    ) == [(0, 5), (1, 5)]


def test_a_bad_size_in_the_environment_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRISTMILL_MEMORY", "banana")
    with pytest.raises(gm.UsageError, match="GRISTMILL_MEMORY: not a size: 'banana'"):
        gm.Config.resolve()


def test_an_empty_output_path_is_refused_not_taken_for_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("mine\n")
    for path in ("", "  "):
        with pytest.raises(gm.UsageError, match="output path is empty"):
            gm.from_items([1]).write_text(path, overwrite=True, config=_cfg())
    assert sorted(os.listdir(tmp_path)) == ["keep.txt"]


def test_an_output_under_a_regular_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x\n")
    for out in (tmp_path / "f" / "sub", tmp_path / "f" / "a" / "b"):
        with pytest.raises(gm.UsageError, match=f"{tmp_path / 'f'} is not a directory"):
            gm.from_items([1]).write_text(str(out), config=_cfg())
    assert (tmp_path / "f").read_text() == "x\n"


def test_overwriting_a_file_leaves_nothing_beside_the_output(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("an old file\n")
    gm.from_items([1, 2]).write_text(str(tmp_path / "out"), overwrite=True, config=_cfg())
    assert os.listdir(tmp_path) == ["out"]
    parts = sorted((tmp_path / "out").glob("part-*"))
    assert "".join(p.read_text() for p in parts) == "1\n2\n"


def test_a_task_that_cannot_be_saved_for_replay_still_reports_its_own_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRISTMILL_HOME", str(tmp_path / "home"))
    lock = threading.Lock()

    def fails_under_a_lock(x: int) -> int:
        with lock:  # a closure over a lock: the task cannot be pickled for a replay bundle
            if x == 2:
                raise ValueError("the real error")
            return x

    fails = gm.from_items(range(4), partitions=2).map(fails_under_a_lock)
    with pytest.raises(gm.JobFailedError) as e:
        fails.collect(config=_cfg())
    assert "ValueError: the real error" in str(e.value) and "record: item 2" in str(e.value)
    assert "no replay bundle: TypeError: cannot pickle" in str(e.value)
    assert os.listdir(tmp_path / "home" / "replay") == []  # no empty bundle left behind


def _exits(x: int) -> int:
    if x == 2:
        sys.exit(3)
    return x


def test_sys_exit_in_a_task_fails_the_task_not_the_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRISTMILL_HOME", str(tmp_path / "home"))
    with pytest.raises(gm.JobFailedError, match=r"SystemExit\(3\): a function called sys.exit"):
        gm.from_items(range(4), partitions=2).map(_exits).collect(config=_cfg("local"))
    # Inline, the task runs in the caller's process, where SystemExit may be its shutdown (a
    # SIGTERM handler's): it propagates, as it would from any function the caller runs.
    with pytest.raises(SystemExit):
        gm.from_items(range(4), partitions=2).map(_exits).collect(config=_cfg("inline"))


@pytest.mark.parametrize("executor", ["inline", "local"])
def test_a_file_that_is_not_parquet_is_named_or_skipped(executor: str, tmp_path: Path) -> None:
    pq.write_table(pa.table({"a": [1, 2, 3]}), tmp_path / "good.parquet")
    (tmp_path / "bad.parquet").write_text("not parquet at all\n" * 10)
    with pytest.raises(gm.JobFailedError, match=f"{tmp_path / 'bad.parquet'}: not Parquet"):
        gm.read_parquet(str(tmp_path)).collect(config=_cfg(executor))
    skipping = _cfg(executor, skip_corrupt_files=True, skip_bad_records=True)
    out = tmp_path / "out"
    result = gm.read_parquet(str(tmp_path)).write_jsonl(str(out), config=skipping)
    assert result.counters["corrupt_files.skipped"] == 1
    rows = [json.loads(line) for p in sorted(out.glob("part-*")) for line in p.open()]
    assert sorted(r["a"] for r in rows) == [1, 2, 3]


@pytest.mark.parametrize(
    ("left", "right", "says"),
    [
        ([1, 2], [(1, "a")], "its left side gave int: 1"),
        (["ab"], [("a", "x")], "its left side gave str: 'ab'"),  # not taken apart as a pair
        ([(1, 2)], ["zz"], "its right side gave str: 'zz'"),
    ],
)
def test_a_shuffle_join_names_a_record_that_is_not_a_pair(
    left: list[object], right: list[object], says: str
) -> None:
    joined = gm.from_items(left).join(gm.from_items(right), broadcast=False)
    with pytest.raises(gm.JobFailedError, match="join expects \\(key, value\\) pairs; " + says):
        joined.collect(config=_cfg())


@pytest.mark.parametrize(
    ("call", "says"),
    [
        (lambda ds: ds.take("2"), "take's n must be an int, got '2'"),
        (lambda ds: ds.top(-2), "top needs n >= 0, got -2"),  # was an empty list
        (lambda ds: ds.top("2"), "top's n must be an int"),  # failed inside the task
        (lambda ds: ds.union([2]), "union takes Datasets, got list"),
        (lambda ds: gm.from_items(5), "from_items takes an iterable, got int"),  # type: ignore[arg-type]
        (lambda ds: gm.from_items([1], partitions="2"), "partitions must be an int"),  # type: ignore[arg-type]
        (lambda ds: gm.read_text(123), "input paths must be a str or a list of them"),  # type: ignore[arg-type]
        (lambda ds: gm.read_binary_records("x", "100"), "record_size must be an int"),  # type: ignore[arg-type]
    ],
)
def test_wrong_arguments_are_usage_errors_saying_which(
    call: Callable[[gm.Dataset], object], says: str
) -> None:
    ds = gm.from_items([3, 1, 2])
    with pytest.raises(gm.UsageError, match=re.escape(says)), gm.config.use_config(_cfg()):
        call(ds)


def test_paths_may_be_path_objects(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("a\nb\n")
    assert gm.read_text(tmp_path / "t.txt").collect(config=_cfg()) == ["a", "b"]


def _fails_past_five(a: int, b: int) -> int:
    if a + b > 5:
        raise ValueError("past five")
    return a + b


@pytest.mark.parametrize("executor", ["inline", "local"])
@pytest.mark.parametrize("partitions", [1, 3])  # 1: fails in the map-side combine; 3: reducer
def test_a_failing_aggregator_names_its_key(executor: str, partitions: int) -> None:
    pairs = [("k", 3), ("j", 1), ("k", 4)]
    ds = gm.from_items(pairs, partitions=partitions).reduce_by_key(_fails_past_five)
    with pytest.raises(gm.JobFailedError, match="ValueError: past five") as e:
        ds.collect(config=_cfg(executor))
    assert e.value.location == "key 'k'"


def _fails_on_b(x: str) -> str:
    if x == "b":
        raise ZeroDivisionError("no b")
    return x


@pytest.mark.parametrize("executor", ["inline", "local"])
@pytest.mark.parametrize(
    ("name", "says"),
    [("sort_by", "sort key of 'b'"), ("top", "top key of 'b'"), ("value_key", "value key of 'b'")],
)
def test_a_failing_key_function_names_its_record(executor: str, name: str, says: str) -> None:
    cfg = _cfg(executor)
    runs: dict[str, Callable[[], object]] = {
        "sort_by": lambda: gm.from_items(["a", "b"]).sort_by(_fails_on_b).collect(config=cfg),
        "top": lambda: gm.from_items(["a", "b"]).top(1, key=_fails_on_b, config=cfg),
        "value_key": lambda: (
            gm.from_items([("k", "a"), ("k", "b")])
            .group_by_key(value_key=_fails_on_b)
            .map_values(list)
            .collect(config=cfg)
        ),
    }
    with pytest.raises(gm.JobFailedError, match="ZeroDivisionError: no b") as e:
        runs[name]()
    assert e.value.location == says


@pytest.mark.parametrize("executor", ["inline", "local"])
def test_a_users_own_type_error_is_not_taken_for_an_unhashable_key(executor: str) -> None:
    # The builtin frozenset fails inside the lazily folded records, and Counter on a list
    # value inside the user's lambda: their errors, traced to the record, not the table's.
    words = gm.from_items([["a", "b"], ["c", ["d"]]], partitions=1)
    for ds in (
        words.map(frozenset).count_by_value(),
        words.map(frozenset).distinct(),
        words.map(lambda ws: ("k", collections.Counter(ws))).reduce_by_key(operator.add),
    ):
        with pytest.raises(gm.JobFailedError) as e:
            ds.collect(config=_cfg(executor))
        assert "unhashable type: 'list'" in str(e.value)
        assert "make the key a tuple" not in str(e.value)
        assert e.value.location.startswith("item")


def test_a_corrupt_parquet_row_group_is_named_after_the_last_good_row(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": list(range(30_000))}), path, row_group_size=10_000)
    meta = pq.ParquetFile(path).metadata
    start = meta.row_group(2).column(0).data_page_offset  # the third row group's data
    data = bytearray(path.read_bytes())
    data[start : start + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    with pytest.raises(gm.JobFailedError, match="corrupt after row") as e:
        gm.read_parquet(str(path)).count(config=_cfg())
    # Rows read whole before the bad page (pyarrow reads in 4096-row batches across groups).
    good = int(re.search(r"corrupt after row (\d+)", str(e.value)).group(1))  # type: ignore[union-attr]
    assert 10_000 < good <= 20_000


def test_a_commit_removes_what_killed_overwrites_left_and_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("an old file\n")
    (tmp_path / ".out.gristmill-20260101-000000-dead.old").write_text("a killed overwrite's\n")
    (tmp_path / ".out.gristmill-20260101-000000-dead").mkdir()  # its staging
    (tmp_path / ".out.notes").write_text("the user's own\n")
    gm.from_items([1]).write_text(str(tmp_path / "out"), overwrite=True, config=_cfg())
    assert sorted(os.listdir(tmp_path)) == [".out.notes", "out"]
