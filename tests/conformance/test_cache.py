"""Dataset.cache(): computed once, read back by later jobs, equal to the uncached result;
gone with unpersist() and at exit."""

from __future__ import annotations

import collections
import dataclasses
import glob
import json
import operator
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gristmill as gm
from gristmill.io import scratch


@pytest.fixture(params=["inline", "local"])
def cfg(request: pytest.FixtureRequest, tmp_path: Path) -> gm.Config:
    return gm.Config(
        executor=request.param, workers=2, progress=False, scratch_dir=str(tmp_path / "scratch")
    )


def _noting(log: str):  # type: ignore[no-untyped-def]
    def square(x: int) -> int:
        with open(log, "a") as f:  # one line per call, from any process
            f.write("x\n")
        return x * x

    return square


def _calls(log: Path) -> int:
    return len(log.read_text().split()) if log.exists() else 0


def test_computed_once_and_equal_to_uncached(cfg: gm.Config, tmp_path: Path) -> None:
    log = tmp_path / "calls.txt"
    squares = gm.from_items(range(2000), partitions=4).map(_noting(str(log)))
    cached = squares.cache()
    assert _calls(log) == 0  # lazy: nothing runs until an action
    assert cached.count(config=cfg) == 2000
    assert cached.reduce(operator.add, config=cfg) == sum(x * x for x in range(2000))
    by_rest = cached.map(lambda x: (x % 7, x)).reduce_by_key(operator.add)
    oracle: dict[int, int] = collections.defaultdict(int)
    for x in range(2000):
        oracle[x * x % 7] += x * x
    assert sorted(by_rest.collect(config=cfg)) == sorted(oracle.items())
    assert _calls(log) == 2000  # three actions, one computation
    assert cached.collect(config=cfg) == squares.collect(config=cfg)  # the same, in order
    folders = glob.glob(str(tmp_path / "scratch" / "gristmill-cache-*"))
    assert len(folders) == 1
    cached.unpersist()
    assert not os.path.exists(folders[0])
    assert cached.count(config=cfg) == 2000
    assert _calls(log) == 6000  # the uncached collect, then the cache computed again


def test_an_iterative_job_reads_its_cached_history(cfg: gm.Config) -> None:
    # PageRank on a small graph: each iteration caches its ranks, so iteration k reads
    # iteration k-1's cache instead of replaying k joins. Oracle: the same formula in Python.
    edges = [(i, (i * 7 + 3) % 50) for i in range(50)] + [(i, (i + 1) % 50) for i in range(50)]
    links = gm.from_items(edges).group_by_key().map_values(list).cache()
    ranks = links.map_values(lambda _: 1.0)
    for _ in range(5):
        contribs = links.join(ranks).flat_map(
            lambda kv: [(d, kv[1][1] / len(kv[1][0])) for d in kv[1][0]]
        )
        ranks = contribs.reduce_by_key(operator.add).map_values(lambda r: 0.15 + 0.85 * r).cache()
    got = dict(ranks.collect(config=cfg))
    out: dict[int, list[int]] = collections.defaultdict(list)
    for s, d in edges:
        out[s].append(d)
    want = {n: 1.0 for n in out}
    for _ in range(5):
        acc: dict[int, float] = collections.defaultdict(float)
        for s, ds in out.items():
            for d in ds:
                acc[d] += want[s] / len(ds)
        want = {n: 0.15 + 0.85 * r for n, r in acc.items()}
    assert got.keys() == want.keys()
    assert all(abs(got[n] - want[n]) <= 1e-12 * want[n] for n in want)


def test_a_failed_computation_keeps_nothing_and_is_retried(cfg: gm.Config, tmp_path: Path) -> None:
    flag = tmp_path / "fail"
    flag.write_text("yes")

    def fragile(x: int) -> int:
        if os.path.exists(flag):
            raise ValueError("not yet")
        return x

    cached = gm.from_items(range(10), partitions=2).map(fragile).cache()
    failing = dataclasses.replace(cfg, max_attempts=1)
    with pytest.raises(gm.JobFailedError, match="not yet"):
        cached.count(config=failing)
    assert not glob.glob(str(tmp_path / "scratch" / "gristmill-cache-*"))
    flag.unlink()
    assert cached.collect(config=cfg) == list(range(10))


def test_explain_runs_nothing_and_the_data_goes_at_exit(tmp_path: Path) -> None:
    code = (
        "import gristmill as gm, glob\n"
        f"cfg = gm.Config(executor='inline', progress=False, scratch_dir={str(tmp_path)!r})\n"
        "ds = gm.from_items(range(3)).map(str).cache()\n"
        "ds.explain(config=cfg)\n"
        f"assert not glob.glob({str(tmp_path / 'gristmill-cache-*')!r})\n"
        "print(ds.collect(config=cfg))\n"
        f"assert glob.glob({str(tmp_path / 'gristmill-cache-*')!r})\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "Cache(#" in done.stdout and "['0', '1', '2']" in done.stdout
    assert not glob.glob(str(tmp_path / "gristmill-cache-*"))  # removed at exit


def _reject_sevens(x: int) -> int:
    if x % 7 == 0:
        raise ValueError(f"seven divides {x}")
    return x


def test_records_skipped_while_caching_are_quarantined_with_the_output(
    cfg: gm.Config, tmp_path: Path
) -> None:
    skipping = dataclasses.replace(cfg, skip_bad_records=True)
    cached = gm.from_items(range(1, 50), partitions=2).map(_reject_sevens).cache()
    out = tmp_path / "out"
    result = cached.map(str).write_text(str(out), config=skipping)
    lines = [ln for p in sorted(out.glob("part-*")) for ln in p.read_text().split()]
    assert sorted(map(int, lines)) == [x for x in range(1, 50) if x % 7]
    bad = [json.loads(ln) for p in (out / "_quarantine").glob("*.jsonl") for ln in p.open()]
    assert sorted(b["error"] for b in bad) == sorted(
        f"ValueError: seven divides {x}" for x in range(7, 50, 7)
    )
    assert result.counters["bad_records.skipped"] == len(bad) == 7


def test_data_left_by_a_killed_process_is_reclaimed(tmp_path: Path) -> None:
    code = (
        "import os, signal, gristmill as gm\n"
        f"cfg = gm.Config(executor='inline', progress=False, scratch_dir={str(tmp_path)!r})\n"
        "assert gm.from_items([1, 2]).cache().count(config=cfg) == 2\n"
        "os.kill(os.getpid(), signal.SIGKILL)  # no exit handler runs\n"
    )
    subprocess.run([sys.executable, "-c", code], check=False)
    left = glob.glob(str(tmp_path / "gristmill-cache-*"))
    assert len(left) == 1  # owned by a process that is gone: a later job's reclaim takes it
    assert scratch.reclaim(str(tmp_path), min_age=0) == left
    assert not os.path.exists(left[0])


def test_scratch_paths_with_glob_characters(tmp_path: Path) -> None:
    cfg = gm.Config(executor="inline", progress=False, scratch_dir=str(tmp_path / "scr[1]"))
    cached = gm.from_items(range(10), partitions=2).map(lambda x: x * 2).cache()
    assert cached.collect(config=cfg) == [x * 2 for x in range(10)]


def test_tables_and_blocks_come_back_as_they_went(cfg: gm.Config, tmp_path: Path) -> None:
    import numpy as np
    import pyarrow as pa

    def table(rows: list[int]) -> pa.Table:
        notes = [None if r < 3 else f"x{r}" for r in rows]
        return pa.table({"id": pa.array(rows, pa.int32()), "note": pa.array(notes, pa.string())})

    tables = gm.from_items(range(6), partitions=2).map_batches(table)
    schemas = tables.cache().map_batches(lambda t: [str(t.schema)], batch_format="pyarrow")
    assert set(schemas.collect(config=cfg)) == {str(table([0]).schema)}
    blocks = gm.from_items([bytes([i]) * 4 for i in range(8)]).map_batches(
        lambda recs: np.frombuffer(b"".join(recs), np.uint8).reshape(-1, 4)
    )
    kinds = blocks.cache().map_batches(lambda b: [type(b).__name__, b.shape[1]])
    assert set(kinds.collect(config=cfg)) == {"ndarray", 4}


def test_threads_wait_for_one_computation(cfg: gm.Config, tmp_path: Path) -> None:
    import threading

    log = tmp_path / "calls.txt"
    cached = gm.from_items(range(200), partitions=4).map(_noting(str(log))).cache()
    results: list[list[int]] = []
    threads = [
        threading.Thread(target=lambda: results.append(cached.collect(config=cfg)))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [[x * x for x in range(200)]] * 3
    assert _calls(log) == 200
    assert len(glob.glob(str(tmp_path / "scratch" / "gristmill-cache-*"))) == 1


def test_data_removed_under_us_is_computed_again(cfg: gm.Config, tmp_path: Path) -> None:
    cached = gm.from_items(range(5)).map(str).cache()
    assert cached.count(config=cfg) == 5
    (folder,) = glob.glob(str(tmp_path / "scratch" / "gristmill-cache-*"))
    shutil.rmtree(folder)
    assert cached.collect(config=cfg) == ["0", "1", "2", "3", "4"]


def test_skipped_records_wait_for_a_job_with_output(cfg: gm.Config, tmp_path: Path) -> None:
    skipping = dataclasses.replace(cfg, skip_bad_records=True)
    cached = gm.from_items(range(1, 50), partitions=2).map(_reject_sevens).cache()
    assert cached.count(config=skipping) == 42  # computed here, with nowhere to quarantine
    out = tmp_path / "out"
    result = cached.map(str).write_text(str(out), config=skipping)
    assert result.counters["bad_records.skipped"] == 7
    assert len([ln for p in (out / "_quarantine").glob("*.jsonl") for ln in p.open()]) == 7
    again = cached.map(str).write_text(str(tmp_path / "again"), config=skipping)
    assert "bad_records.skipped" not in again.counters  # committed once, with the first


def test_records_that_do_not_pickle_say_why(tmp_path: Path) -> None:
    cfg = gm.Config(executor="inline", progress=False, max_attempts=1)
    cached = gm.from_items(range(3)).map(lambda x: (x, lambda: x)).cache()
    with pytest.raises(gm.JobFailedError, match="a cached dataset's records are kept pickled"):
        cached.count(config=cfg)
