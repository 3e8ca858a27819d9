"""Kill real processes at controlled points; the output must be exactly a clean run's.

A worker is SIGKILLed mid-map, mid-spill or mid-reduce (the job retries and succeeds), or the
driver is killed inside task commit or job commit (a `--resume` rerun finishes it). A watcher
polls the destination throughout: it must never show a partial file or a manifest-less output.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from gristmill.examples.textgen import generate_text

GRISTMILL = os.path.join(os.path.dirname(sys.executable), "gristmill")

JOB = """
import sys
import gristmill as gm
words = gm.read_text(sys.argv[1]).flat_map(str.split)
pairs = words.map(lambda w: (w, len(w)))
pairs.group_by_key(partitions=4).map_values(lambda v: sum(v)).write_text(sys.argv[2])
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, bytes]]:
    base = tmp_path_factory.mktemp("faults")
    corpus = base / "text.txt"
    generate_text(str(corpus), 3_000_000, seed=21, vocab_size=5000)
    script = base / "job.py"
    script.write_text(JOB)
    clean = base / "clean"
    subprocess.run(
        [*_cmd(base / "scratch-clean"), str(script), str(corpus), str(clean)], check=True
    )
    return corpus, script, _snapshot(clean)


def _cmd(scratch: Path, *extra: str) -> list[str]:
    scratch.mkdir(exist_ok=True)
    return [
        GRISTMILL,
        "run",
        "--workers",
        "2",
        "--memory",
        "2MB",
        "--scratch-dir",
        str(scratch),
        *extra,
    ]


def _snapshot(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("part-*"))}


class Watcher(threading.Thread):
    """Polls the destination; records anything a reader could see that is not final."""

    def __init__(self, out: Path, final: dict[str, bytes]) -> None:
        super().__init__(daemon=True)
        self.out, self.final = out, final
        self.problems: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                names = sorted(os.listdir(self.out))
            except FileNotFoundError:
                time.sleep(0.005)
                continue
            if "_SUCCESS" not in names:
                self.problems.append(f"output visible without _SUCCESS: {names}")
            for name in names:
                if name.startswith("part-"):
                    try:
                        data = (self.out / name).read_bytes()
                    except FileNotFoundError:
                        continue
                    if data != self.final.get(name):
                        self.problems.append(f"{name} visible with other contents")
            time.sleep(0.005)


def _wait_for_tasks(base: Path) -> None:
    """Until the job staging its output in `base` has started task attempts, and a bit more."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list(base.glob(".out.gristmill-*/_attempts")):
        time.sleep(0.02)
    time.sleep(0.5)  # tasks are running


def _leftovers(base: Path, scratch: Path, script: Path) -> list[str]:
    found = [p.name for p in base.iterdir() if p.name.startswith(".out.")]
    found += [p.name for p in scratch.iterdir()]
    for proc in psutil.process_iter(["cmdline"]):
        if str(script) in " ".join(proc.info["cmdline"] or []):
            found.append(f"process {proc.pid}")
    return found


@pytest.mark.parametrize("point", ["map", "spill", "reduce"])
def test_worker_killed(
    point: str, setup: tuple[Path, Path, dict[str, bytes]], tmp_path: Path
) -> None:
    corpus, script, final = setup
    out, scratch = tmp_path / "out", tmp_path / "scratch"
    marker = tmp_path / "died"
    env = {**os.environ, "GRISTMILL_FAULT": f"{point}:{marker}"}
    watcher = Watcher(out, final)
    watcher.start()
    done = subprocess.run(
        [*_cmd(scratch), str(script), str(corpus), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    watcher.stop.set()
    watcher.join()
    assert done.returncode == 0, done.stderr
    assert marker.exists(), "the fault fired"
    assert "worker process died (killed by signal 9)" in done.stderr
    assert _snapshot(out) == final
    assert watcher.problems == []
    assert _leftovers(tmp_path, scratch, script) == []


@pytest.mark.parametrize("point", ["task_commit", "job_commit"])
def test_driver_killed_then_resumed(
    point: str, setup: tuple[Path, Path, dict[str, bytes]], tmp_path: Path
) -> None:
    corpus, script, final = setup
    out, scratch = tmp_path / "out", tmp_path / "scratch"
    env = {**os.environ, "GRISTMILL_FAULT": point}
    watcher = Watcher(out, final)
    watcher.start()
    killed = subprocess.run(
        [*_cmd(scratch), str(script), str(corpus), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert killed.returncode == -9
    assert not out.exists(), "a killed job leaves the destination untouched"
    resumed = subprocess.run(
        [*_cmd(scratch, "--resume"), str(script), str(corpus), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    watcher.stop.set()
    watcher.join()
    assert resumed.returncode == 0, resumed.stderr
    assert _snapshot(out) == final
    assert watcher.problems == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")] == []


SLOW_JOB = """
import sys, time
import gristmill as gm
gm.from_items(range(40), partitions=8).map(lambda x: time.sleep(0.5) or x).write_text(sys.argv[1])
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_cancel_cleans_up_and_exits_130(sig: signal.Signals, tmp_path: Path) -> None:
    script = tmp_path / "slow.py"
    script.write_text(SLOW_JOB)
    out, scratch = tmp_path / "out", tmp_path / "scratch"
    proc = subprocess.Popen(
        [*_cmd(scratch), str(script), str(out)],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _wait_for_tasks(tmp_path)
    os.killpg(proc.pid, sig)  # as a terminal's Ctrl-C reaches the whole process group
    started = time.monotonic()
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 10
    assert proc.returncode == 130, err
    assert not out.exists()
    assert _leftovers(tmp_path, scratch, script) == []


SLOW_MR_JOB = """
import time
import gristmill as gm

class Slow(gm.MapReduceJob):
    def mapper(self, _, line):
        time.sleep(0.5)
        yield line, 1

    def reducer(self, key, counts):
        yield key, sum(counts)

if __name__ == "__main__":
    Slow.main()
"""


def test_sigterm_cancels_a_mapreduce_script(tmp_path: Path) -> None:
    """`python job.py ...` treats SIGTERM as `gristmill run` does: a cancel that cleans up."""
    script = tmp_path / "slow_mr.py"
    script.write_text(SLOW_MR_JOB)
    corpus = tmp_path / "in.txt"
    corpus.write_text("".join(f"line {i}\n" for i in range(40)))
    out, scratch = tmp_path / "out", tmp_path / "scratch"
    scratch.mkdir()
    engine = ["--workers", "2", "--split-size", "64", "--scratch-dir", str(scratch)]
    proc = subprocess.Popen(
        [sys.executable, str(script), str(corpus), "-o", str(out), *engine],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _wait_for_tasks(tmp_path)
    os.kill(proc.pid, signal.SIGTERM)  # the driver alone, as `kill PID` or a supervisor does
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert not out.exists()
    assert _leftovers(tmp_path, scratch, script) == []
