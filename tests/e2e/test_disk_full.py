"""A full disk fails the job with a typed error naming the directory; old output is untouched."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from gm_cli import run_cli


def _snapshot(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def _run(args: list[str], fault: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("GRISTMILL_FAULT", None)
    if fault:
        env["GRISTMILL_FAULT"] = fault
    return run_cli(*args, env=env)


@pytest.fixture
def job(tmp_path: Path) -> tuple[list[str], Path, Path]:
    src = tmp_path / "in.txt"
    src.write_text("".join(f"w{i % 977} w{i % 13}\n" for i in range(50_000)))
    out, scratch = tmp_path / "out", tmp_path / "scratch"
    scratch.mkdir()
    args = ["example", "wordcount", "--scratch-dir", str(scratch), "--workers", "2"]
    args += ["--overwrite", str(src), "-o", str(out)]
    done = _run(args)
    assert done.returncode == 0, done.stderr
    return args, out, scratch


@pytest.mark.parametrize(
    ("fault", "role"),
    [("scratch_full", "scratch directory"), ("output_full", "output staging directory")],
)
def test_disk_full_names_the_directory(
    job: tuple[list[str], Path, Path], fault: str, role: str
) -> None:
    args, out, scratch = job
    before = _snapshot(out)
    done = _run(args, fault)
    assert done.returncode == 1
    where = scratch if fault == "scratch_full" else out.parent
    assert f"no space left in {role} {where}" in done.stderr, done.stderr
    assert "DiskFullError" in done.stderr
    assert _snapshot(out) == before  # the previous output, byte for byte
    assert list(scratch.iterdir()) == []  # spill files removed
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []  # no staging


def test_a_real_full_tmpfs(tmp_path: Path) -> None:
    scratch = tmp_path / "small"
    scratch.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(scratch)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        gen = tmp_path / "gen"
        assert _run(["example", "teragen", "50000", "-o", str(gen)]).returncode == 0
        args = ["example", "terasort", str(gen), "-o", str(tmp_path / "out")]
        done = _run([*args, "--scratch-dir", str(scratch)])
        assert done.returncode == 1
        assert f"no space left in scratch directory {scratch}" in done.stderr, done.stderr
        # Every attempt, not only the first: a partial run left behind by one attempt (runs
        # are written through a buffer) would fill the disk for the next with a bare OSError.
        assert "attempt(s): DiskFullError: no space left" in done.stderr, done.stderr
        assert not (tmp_path / "out").exists()
        assert os.listdir(scratch) == []
    finally:
        subprocess.run(["umount", str(scratch)], check=False)
