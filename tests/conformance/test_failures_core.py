"""Task failures: retries, user traceback and record location, crash recovery, atomic output."""

from __future__ import annotations

import collections
import contextlib
import faulthandler
import json
import operator
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import gristmill as gm

EXECUTORS = ["inline", "local"]


def _cfg(executor: str, tmp_path: Path, **kw: Any) -> gm.Config:
    return gm.Config(
        executor=executor, workers=2, progress=False, scratch_dir=str(tmp_path / "s"), **kw
    )


def _explode(line: str) -> str:
    if line == "bad line":
        raise ValueError("cannot parse " + line)
    return line.upper()


@pytest.mark.parametrize("executor", EXECUTORS)
def test_failure_names_file_line_and_user_traceback(executor: str, tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("ok\nfine\nbad line\nok\n")
    out = tmp_path / "out"
    with pytest.raises(gm.JobFailedError) as info:
        gm.read_text(str(src)).map(_explode).write_text(
            str(out), config=_cfg(executor, tmp_path, max_attempts=2)
        )
    err = info.value
    assert f"{src}, line 3 (byte offset 8)" in err.location
    assert "_explode" in err.user_traceback and "ValueError: cannot parse" in err.user_traceback
    assert "after 2 attempt(s)" in str(err)
    assert not out.exists()
    assert [p for p in os.listdir(tmp_path) if p.startswith(".out")] == []


def _explode_pair(line: str) -> tuple[str, int]:
    return _explode(line), 1


@pytest.mark.parametrize("executor", EXECUTORS)
def test_failure_feeding_the_map_side_combine_is_located(executor: str, tmp_path: Path) -> None:
    # reduce_by_key folds the map's pairs as they are made, with no batch of them built:
    # the failing record is still found and named.
    src = tmp_path / "in.txt"
    src.write_text("".join(f"w{n % 7}\n" for n in range(3000)) + "bad line\nok\n")
    out = tmp_path / "out"
    ds = gm.read_text(str(src)).map(_explode_pair).reduce_by_key(operator.add)
    with pytest.raises(gm.JobFailedError) as info:
        ds.write_text(str(out), config=_cfg(executor, tmp_path, max_attempts=1))
    assert f"{src}, line 3001 (byte offset 9000)" in info.value.location
    assert "_explode" in info.value.user_traceback
    assert not out.exists()


def _fail_first_attempt(marker_dir: str) -> Callable[[int], int]:
    def fn(x: int) -> int:
        marker = os.path.join(marker_dir, f"seen-{x}")
        if x == 3 and not os.path.exists(marker):
            open(marker, "w").close()
            raise RuntimeError("transient")
        return x * 10

    return fn


@pytest.mark.parametrize("executor", EXECUTORS)
def test_flaky_task_retried_and_counters_count_winner_only(executor: str, tmp_path: Path) -> None:
    data = gm.from_items(range(8), partitions=4)
    out = tmp_path / "out"
    result = data.map(_fail_first_attempt(str(tmp_path))).write_text(
        str(out), config=_cfg(executor, tmp_path)
    )
    lines = b"".join(p.read_bytes() for p in sorted(out.glob("part-*"))).decode().split()
    assert lines == [str(x * 10) for x in range(8)]
    assert result.counters["input.records"] == 8
    assert result.counters["output.records"] == 8


def _die_once(marker_dir: str) -> Callable[[int], int]:
    def fn(x: int) -> int:
        marker = os.path.join(marker_dir, "died")
        if x == 5 and not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(9)  # the worker process dies, no exception
        return x

    return fn


def test_worker_crash_is_retried_on_a_fresh_worker(tmp_path: Path) -> None:
    data = gm.from_items(range(10), partitions=5)
    got = data.map(_die_once(str(tmp_path))).collect(config=_cfg("local", tmp_path))
    assert got == list(range(10))
    assert os.path.exists(tmp_path / "died")


def test_existing_output_refused_then_overwritten_at_commit(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "part-00000").write_text("old\n")
    data = gm.from_items(["new"], partitions=1)
    with pytest.raises(gm.OutputExistsError):
        data.write_text(str(out), config=_cfg("inline", tmp_path))
    assert (out / "part-00000").read_text() == "old\n"
    with pytest.raises(gm.JobFailedError):
        data.map(_explode_all).write_text(
            str(out), overwrite=True, config=_cfg("inline", tmp_path, max_attempts=1)
        )
    assert (out / "part-00000").read_text() == "old\n", "a failed overwrite keeps old output"
    data.write_text(str(out), overwrite=True, config=_cfg("inline", tmp_path))
    assert (out / "part-00000").read_text() == "new\n"
    assert sorted(p.name for p in out.iterdir()) == ["_SUCCESS", "part-00000"]


def _explode_all(x: str) -> str:
    raise RuntimeError("no")


def test_bad_input_names_file_and_offset(tmp_path: Path) -> None:
    src = tmp_path / "bad.jsonl"
    src.write_text('{"a": 1}\n{"a": 2\n')
    with pytest.raises(gm.JobFailedError) as info:
        gm.read_jsonl(str(src)).collect(config=_cfg("inline", tmp_path, max_attempts=1))
    assert "malformed JSON" in str(info.value) and f"{src}, line 2" in str(info.value)
    utf = tmp_path / "bad.txt"
    utf.write_bytes(b"fine\n\xff\xfe\n")
    with pytest.raises(gm.JobFailedError) as info:
        gm.read_text(str(utf)).collect(config=_cfg("inline", tmp_path, max_attempts=1))
    assert "invalid UTF-8" in str(info.value) and "byte offset 5" in str(info.value)


def test_missing_input_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(gm.InputNotFoundError):
        gm.read_text(str(tmp_path / "nope.txt")).count(config=_cfg("inline", tmp_path))
    assert gm.read_text(str(tmp_path / "*.none")).count(config=_cfg("inline", tmp_path)) == 0


def test_reading_and_writing_the_same_path_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    gm.from_items(["a", "b"]).write_text(str(out), config=_cfg("inline", tmp_path))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(gm.UsageError, match="reads its own output"):
        gm.read_text(str(out)).map(str.upper).write_text(
            str(out), overwrite=True, config=_cfg("inline", tmp_path)
        )
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def _hang_once(marker_dir: str) -> Callable[[int], int]:
    def fn(x: int) -> int:
        marker = os.path.join(marker_dir, "hung")
        if x == 2 and not os.path.exists(marker):
            open(marker, "w").close()
            time.sleep(120)  # a hung attempt: only the timeout ends it
        return x

    return fn


def _hang_always(x: int) -> int:
    time.sleep(120)
    return x


def test_hung_attempt_is_killed_at_timeout_and_retried(tmp_path: Path) -> None:
    cfg = _cfg("local", tmp_path, task_timeout=1.0)
    started = time.monotonic()
    got = gm.from_items(range(6), partitions=3).map(_hang_once(str(tmp_path))).collect(config=cfg)
    assert got == list(range(6))
    assert time.monotonic() - started < 30
    with pytest.raises(gm.JobFailedError, match=r"timed out after 0\.5s") as info:
        gm.from_items([1], partitions=1).map(_hang_always).collect(
            config=_cfg("local", tmp_path, task_timeout=0.5, max_attempts=2)
        )
    assert "stage 0 task 0" in str(info.value)


def _append_to(path: str) -> Callable[[str], str]:
    def fn(line: str) -> str:
        with open(path, "a") as f:  # another writer appends to the input mid-job
            f.write("late line\n")
        return line

    return fn


@pytest.mark.parametrize("executor", EXECUTORS)
def test_input_changed_during_job_fails_it(executor: str, tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("a\nb\n")
    out = tmp_path / "out"
    ds = gm.read_text(str(src)).map(_append_to(str(src)))
    with pytest.raises(gm.GristmillError, match="input changed"):
        ds.write_text(str(out), config=_cfg(executor, tmp_path, max_attempts=1))
    assert not out.exists()


@contextlib.contextmanager
def _no_crash_dumps() -> Iterator[None]:
    """Workers forked meanwhile inherit no faulthandler: the SIGBUS these tests expect in one
    would print a Python dump into the test log."""
    was = faulthandler.is_enabled()
    faulthandler.disable()
    try:
        yield
    finally:
        if was:
            faulthandler.enable(file=sys.__stderr__ or sys.stderr)


def _truncate_once(path: str) -> Callable[[Any], Any]:
    def fn(table: Any) -> Any:
        marker = path + ".cut"
        if not os.path.exists(marker):  # another process truncates the input under the job
            open(marker, "w").close()
            os.truncate(path, os.path.getsize(path) // 3)
        return table

    return fn


@pytest.mark.parametrize("executor", EXECUTORS)
def test_input_truncated_under_a_columnar_read_fails_the_job_naming_it(
    executor: str, tmp_path: Path
) -> None:
    # Workers read local files through memory maps: a truncated file kills the worker (SIGBUS),
    # the retry names the change. The user's own process (inline) never maps, so it survives.
    src = tmp_path / "in.txt"
    src.write_bytes(b"".join(b"line %d of the input\n" % i for i in range(200_000)))
    out = tmp_path / "out"
    ds = gm.read_text(str(src), batch_format="pyarrow")
    ds = ds.map_batches(_truncate_once(str(src)), batch_format="pyarrow")
    for attempts in (1, 2):
        cfg = _cfg(executor, tmp_path, split_size=1 << 20, max_attempts=attempts)
        with _no_crash_dumps(), pytest.raises(gm.GristmillError, match=r"input changed: .*in\.txt"):
            ds.write_text(str(out), config=cfg)
        assert not out.exists()
        src.write_bytes(b"".join(b"line %d of the input\n" % i for i in range(200_000)))
        os.remove(str(src) + ".cut")


def _truncate_then_fail(path: str) -> Callable[[Any], Any]:
    def fn(table: Any) -> Any:
        os.truncate(path, 10)
        raise ValueError("the user's function fails")  # locating it reads the truncated map

    return fn


def test_a_worker_killed_reading_a_truncated_map_is_named_by_the_change(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(b"".join(b"line %d of the input\n" % i for i in range(200_000)))
    ds = gm.read_text(str(src), batch_format="pyarrow")
    ds = ds.map_batches(_truncate_then_fail(str(src)), batch_format="pyarrow")
    cfg = _cfg("local", tmp_path, max_attempts=1)
    with _no_crash_dumps(), pytest.raises(gm.GristmillError, match=r"input changed: .*in\.txt"):
        ds.write_text(str(tmp_path / "out"), config=cfg)
    assert not (tmp_path / "out").exists()


def test_concurrent_writer_refused_with_other_job_id_and_stale_lock_taken(tmp_path: Path) -> None:
    from gristmill.io.lock import OutputLock, OutputLockedError

    out = tmp_path / "out"
    other = OutputLock(str(out), "job-other-123")
    other.acquire()  # a live job (this process) holds the destination
    data = gm.from_items(["x"], partitions=1)
    with pytest.raises(OutputLockedError, match="job-other-123"):
        data.write_text(str(out), config=_cfg("inline", tmp_path))
    assert not out.exists()
    other.release()
    lock_path = tmp_path / ".out.gristmill-lock"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = {
        "job_id": "dead-job",
        "pid": int(dead.stdout),
        "host": socket.gethostname(),
        "expires": time.time() + 3600,
    }
    lock_path.write_text(json.dumps(stale))
    data.write_text(str(out), config=_cfg("inline", tmp_path))
    assert (out / "part-00000").read_text() == "x\n"
    assert not lock_path.exists(), "the lock is released after commit"


RESUME_JOB = """
import os, sys, time
import gristmill as gm

marks = sys.argv[2]

def work(x):
    open(os.path.join(marks, f"ran-{x}-{time.time_ns()}"), "w").close()
    if x >= 6 and not os.path.exists(os.path.join(marks, "fast")):
        time.sleep(60)
    return x * 2

gm.from_items(range(8), partitions=8).map(work).write_text(sys.argv[1])
"""


def test_resume_after_driver_kill_reuses_committed_tasks(tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text(RESUME_JOB)
    marks = tmp_path / "marks"
    marks.mkdir()
    out = tmp_path / "out"
    gristmill = os.path.join(os.path.dirname(sys.executable), "gristmill")
    cmd = [gristmill, "run", "--workers", "2", "--no-progress", str(script), str(out), str(marks)]
    first = subprocess.Popen(cmd, start_new_session=True, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    tasks: list[Path] = []
    while time.monotonic() < deadline and len(tasks) < 6:
        tasks = list(tmp_path.glob(".out.gristmill-*/_tasks/*.json"))
        time.sleep(0.05)
    assert len(tasks) == 6, "six quick tasks commit while two hang"
    os.killpg(first.pid, signal.SIGKILL)  # the driver and its workers die, no cleanup
    first.wait()
    assert not out.exists()
    (marks / "fast").write_text("")
    done = subprocess.run(
        [*cmd[:2], "--resume", *cmd[2:]], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    ran = collections.Counter(p.name.split("-")[1] for p in marks.glob("ran-*"))
    assert ran == {str(x): (2 if x >= 6 else 1) for x in range(8)}, "only unfinished tasks rerun"
    clean = tmp_path / "clean"
    subprocess.run([*cmd[:5], str(script), str(clean), str(marks)], check=True)
    assert {p.name: p.read_bytes() for p in out.glob("part-*")} == {
        p.name: p.read_bytes() for p in clean.glob("part-*")
    }
    manifest = json.loads((out / "_SUCCESS").read_text())
    assert manifest["counters"]["input.records"] == 8
    assert sorted(p.name for p in out.iterdir()) == ["_SUCCESS"] + [
        f"part-{i:05d}" for i in range(8)
    ]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_unpicklable_functions_and_items_rejected_before_work(tmp_path: Path) -> None:
    import threading

    lock = threading.Lock()
    cfg = _cfg("local", tmp_path)
    with pytest.raises(gm.UsageError, match=r"cannot send map\(.*<lambda>\) to worker processes"):
        gm.from_items([1]).map(lambda x: (lock, x)).count(config=cfg)
    with pytest.raises(gm.UsageError, match="items given to from_items"):
        gm.from_items([lock]).count(config=cfg)
    assert not list((tmp_path / "s").glob("gristmill-*")), "rejected before any work"
