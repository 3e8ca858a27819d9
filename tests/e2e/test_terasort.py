"""TeraSort through the CLI: teragen, terasort, teravalidate, checked against Python's sorted()."""

from __future__ import annotations

import os
import re
import subprocess
import zlib
from pathlib import Path

from gm_cli import run_cli


def gm(*args: str) -> subprocess.CompletedProcess[str]:
    # The caller's own settings stay out: the test compares raw and compressed sort runs.
    env = {k: v for k, v in os.environ.items() if k != "GRISTMILL_COMPRESS_SORT_RUNS"}
    return run_cli(*args, timeout=300, env=env)


def _parts(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(path.glob("part-*")))


def _counter(stderr: str, name: str) -> int:
    """A counter from the job's closing summary line (``name=value``)."""
    return int(re.search(rf"\b{re.escape(name)}=(\d+)", stderr).group(1))  # type: ignore[union-attr]


def _report(stdout: str) -> dict[str, str]:
    return dict(line.split("\t", 1) for line in stdout.splitlines() if "\t" in line)


def test_teragen_terasort_teravalidate(tmp_path: Path) -> None:
    gen, out = tmp_path / "gen", tmp_path / "sorted"
    done = gm("example", "teragen", "120000", "-o", str(gen), "--seed", "5")
    assert done.returncode == 0, done.stderr
    data = _parts(gen)
    assert len(data) == 120_000 * 100
    records = [data[i : i + 100] for i in range(0, len(data), 100)]
    # gensort's binary layout: key, 00 11, row number in hex, breakers, hex filler.
    assert records[7][10:12] == b"\x00\x11" and records[7][12:44] == b"%032X" % 7
    assert records[7][44:48] == b"\x88\x99\xaa\xbb" and records[7][96:] == b"\xcc\xdd\xee\xff"

    # A 4MB budget forces map-side spills and more reduce partitions than map tasks.
    flags = ["--workers", "2", "--memory", "4MB", "--split-size", "2MB"]
    done = gm("example", "terasort", str(gen), "-o", str(out), *flags)
    assert done.returncode == 0, done.stderr
    assert "shuffle.spills=" in done.stderr
    first_run_stderr = done.stderr
    parts = sorted(out.glob("part-*"))
    assert len(parts) > 6
    expected = sorted(records, key=lambda r: r[:10])
    assert _parts(out) == b"".join(expected)

    checked = gm("example", "teravalidate", str(out), "-o", str(tmp_path / "report"))
    assert checked.returncode == 0, checked.stderr
    report = _report(checked.stdout)
    assert report["sorted"] == "yes" and report["records"] == "120000"
    assert int(report["checksum"], 16) == sum(zlib.crc32(r) for r in records)

    # Sort runs are stored raw unless asked: lz4 gives the same output from less scratch.
    packed = tmp_path / "packed"
    done = gm("example", "terasort", str(gen), "-o", str(packed), *flags, "--compress-sort-runs")
    assert done.returncode == 0, done.stderr
    assert _parts(packed) == _parts(out)
    raw_bytes = _counter(first_run_stderr, "shuffle.bytes_written")
    assert _counter(done.stderr, "shuffle.bytes_written") < 0.6 * raw_bytes
    assert raw_bytes >= 120_000 * 100  # every row crossed the shuffle as it is

    unsorted = gm("example", "teravalidate", str(gen), "-o", str(tmp_path / "report2"))
    assert unsorted.returncode == 1
    assert _report(unsorted.stdout)["checksum"] == report["checksum"]
    assert "out of order" in unsorted.stderr


def test_a_partial_record_is_named_with_its_offset(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(os.urandom(1050))
    done = gm("example", "terasort", str(bad), "-o", str(tmp_path / "out"))
    assert done.returncode == 1
    assert str(bad) in done.stderr and "byte offset 1000" in done.stderr
    assert not (tmp_path / "out").exists()


def test_equal_keys_keep_input_order_and_output_is_stable_across_workers(tmp_path: Path) -> None:
    rows = [bytes([i % 3]) * 10 + b"%090d" % i for i in range(30_000)]  # three keys only
    src = tmp_path / "dup.bin"
    src.write_bytes(b"".join(rows))
    outs = []
    for workers in ("1", "3"):
        out = tmp_path / f"out{workers}"
        flags = ["--workers", workers, "--memory", "2MB", "--split-size", "300000"]
        done = gm("example", "terasort", str(src), "-o", str(out), *flags)
        assert done.returncode == 0, done.stderr
        outs.append(_parts(out))
    expected = sorted(rows, key=lambda r: r[:10])
    assert outs[0] == outs[1] == b"".join(expected)
