"""Skip mode: bad records are left out, counted, and quarantined with location and error."""

from __future__ import annotations

import json
import operator
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import gristmill as gm


def _cfg(executor: str, tmp_path: Path, **kw: Any) -> gm.Config:
    return gm.Config(
        executor=executor,
        workers=2,
        progress=False,
        scratch_dir=str(tmp_path / "s"),
        skip_bad_records=True,
        **kw,
    )


def _quarantine(out: Path) -> list[dict[str, str]]:
    return [
        json.loads(line)
        for p in sorted((out / "_quarantine").glob("*.jsonl"))
        for line in p.read_text().splitlines()
    ]


def _reject_sevens(row: dict[str, Any]) -> int:
    if row["n"] % 7 == 0:
        raise ValueError(f"seven divides {row['n']}")
    return int(row["n"])


@pytest.mark.parametrize("executor", ["inline", "local"])
def test_jsonl_bad_lines_and_raising_records(executor: str, tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    lines = []
    for n in range(1, 3001):
        lines.append("{broken" if n % 500 == 0 else json.dumps({"n": n}))
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    result = (
        gm.read_jsonl(str(src))
        .map(_reject_sevens)
        .write_text(str(out), config=_cfg(executor, tmp_path, split_size=8192))
    )
    good = [n for n in range(1, 3001) if n % 500 and n % 7]
    got = [int(x) for p in sorted(out.glob("part-*")) for x in p.read_text().split()]
    assert got == good
    bad = _quarantine(out)
    malformed = [b for b in bad if b["error"].startswith("malformed JSON")]
    raised = [b for b in bad if b["error"].startswith("ValueError")]
    assert len(malformed) == 6 and len(raised) == len(
        [n for n in range(1, 3001) if n % 500 and not n % 7]
    )
    offset = sum(len(line) + 1 for line in lines[:499])
    assert f"{src}, line 500 (byte offset {offset})" in malformed[0]["location"]
    assert result.counters["bad_records.skipped"] == len(bad)


def test_invalid_utf8_and_csv_rows_skipped_with_line_numbers(tmp_path: Path) -> None:
    text = tmp_path / "t.txt"
    text.write_bytes(b"good one\n\xff\xfe broken\ngood two\n")
    out = tmp_path / "out"
    gm.read_text(str(text)).write_text(str(out), config=_cfg("inline", tmp_path))
    assert (out / "part-00000").read_text() == "good one\ngood two\n"
    (entry,) = _quarantine(out)
    assert entry["error"] == "invalid UTF-8" and f"{text}, line 2" in entry["location"]
    table = tmp_path / "t.csv"
    table.write_text("a,b\n1,2\n3\n4,5\n")
    rows = gm.read_csv(str(table)).collect(config=_cfg("inline", tmp_path))
    assert rows == [{"a": "1", "b": "2"}, {"a": "4", "b": "5"}]


def test_budget_exceeded_fails_and_leaves_destination_untouched(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"n": n}) + "\n" for n in range(1, 101)))
    out = tmp_path / "out"
    ds = gm.read_jsonl(str(src)).map(_reject_sevens)
    with pytest.raises(gm.JobFailedError, match="too many bad records: 14 skipped, budget 10") as e:
        ds.write_text(str(out), config=_cfg("inline", tmp_path, max_bad_records=10))
    assert not out.exists()
    # No quarantine survives a failed job, so the error itself names the first bad records.
    shown = str(e.value).splitlines()[1:]
    assert len(shown) == 3
    for line, n in zip(shown, (7, 14, 21), strict=True):
        assert f"{src}, line {n} " in line and f"ValueError: seven divides {n}" in line
    with pytest.raises(gm.JobFailedError, match="too many bad records"):
        ds.write_text(str(out), config=_cfg("inline", tmp_path, max_bad_records=0.1))
    ds.write_text(str(out), config=_cfg("inline", tmp_path, max_bad_records=0.15))
    assert len(_quarantine(out)) == 14


def _reject_bad(line: str) -> str:
    if line.startswith("BAD"):
        raise ValueError("bad line")
    return line


def _word_one(line: str) -> tuple[str, int]:
    return line, 1


@pytest.mark.parametrize("shape", ["map only", "with a reduce"])
@pytest.mark.parametrize(
    ("first_bad", "last_bad", "passes"),
    [
        (10, 0, True),  # 10% of the first file, 0.3% of all: within a 5% budget
        (0, 300, False),  # 7.5% of all, all in the last file
    ],
)
def test_a_fractional_budget_is_judged_on_all_records_read(
    shape: str, first_bad: int, last_bad: int, passes: bool, tmp_path: Path
) -> None:
    """The same input gives the same outcome whatever order its tasks finish in."""
    data = tmp_path / "in"
    data.mkdir()
    (data / "a.txt").write_text("BAD\n" * first_bad + "ok\n" * (100 - first_bad))
    for name in ("b", "c"):
        (data / f"{name}.txt").write_text("ok\n" * 1000)
    (data / "d.txt").write_text("BAD\n" * last_bad + "ok\n" * (1000 - last_bad))
    ds = gm.read_text(str(data)).map(_reject_bad)
    if shape == "with a reduce":
        ds = ds.map(_word_one).reduce_by_key(operator.add)
    outcomes = set()
    for run, executor in enumerate(["inline", "local", "local", "local", "local"]):
        cfg = _cfg(executor, tmp_path, max_bad_records=0.05)
        try:
            ds.write_text(str(tmp_path / f"out{run}"), config=cfg)
            outcomes.add("ok")
        except gm.JobFailedError as exc:
            assert f"{first_bad + last_bad} skipped, budget 0.05 of 3100 records" in str(exc)
            outcomes.add("failed")
    assert outcomes == {"ok" if passes else "failed"}


def test_environment_variable_enables_skip_mode_for_the_cli(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(b"a b\n\xff\na\n")
    out = tmp_path / "out"
    gristmill = os.path.join(os.path.dirname(sys.executable), "gristmill")
    env = {**os.environ, "GRISTMILL_SKIP_BAD_RECORDS": "1"}
    done = subprocess.run(
        [gristmill, "example", "wordcount", str(src), "-o", str(out)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert sorted((out / "part-00000").read_text().splitlines()) == ["a\t2", "b\t1"]
    assert len(_quarantine(out)) == 1
    strict = subprocess.run(
        [gristmill, "example", "wordcount", str(src), "-o", str(tmp_path / "o2")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert strict.returncode == 1 and "invalid UTF-8" in strict.stderr


@pytest.mark.parametrize("executor", ["inline", "local"])
def test_corrupt_compressed_file_fails_or_is_skipped_whole(executor: str, tmp_path: Path) -> None:
    import bz2
    import gzip

    data = tmp_path / "data"
    data.mkdir()
    good = [f"good {i}" for i in range(2000)]
    with gzip.open(data / "a.txt.gz", "wt") as f:
        f.write("\n".join(good) + "\n")
    whole = bz2.compress(("\n".join(f"bad {i}" for i in range(50000)) + "\n").encode())
    (data / "b.txt.bz2").write_bytes(whole[: len(whole) * 2 // 3])  # truncated
    strict = gm.Config(
        executor=executor,
        workers=2,
        progress=False,
        max_attempts=1,
        scratch_dir=str(tmp_path / "s"),
    )
    with pytest.raises(gm.JobFailedError, match=r"b\.txt\.bz2: corrupt or truncated"):
        gm.read_text(str(data)).count(config=strict)
    out = tmp_path / "out"
    lenient = gm.Config(
        executor=executor,
        workers=2,
        progress=False,
        scratch_dir=str(tmp_path / "s"),
        skip_corrupt_files=True,
    )
    result = gm.read_text(str(data)).write_text(str(out), config=lenient)
    lines = "".join(p.read_text() for p in sorted(out.glob("part-*"))).splitlines()
    assert lines == good  # nothing at all from the corrupt file
    assert result.counters["corrupt_files.skipped"] == 1


def _die_on_poison(line: str) -> str:
    if "poison" in line:
        os._exit(11)  # like a crash in a C extension: no exception, the worker is gone
    return line.upper()


def test_records_that_crash_the_worker_are_found_and_skipped(tmp_path: Path) -> None:
    lines = [f"line {i}" for i in range(5000)]
    for i in (17, 1234, 4000):
        lines[i] = f"poison {i}"
    src = tmp_path / "in.txt"
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    result = (
        gm.read_text(str(src))
        .map(_die_on_poison)
        .write_text(str(out), config=_cfg("local", tmp_path, split_size=20_000))
    )
    got = "".join(p.read_text() for p in sorted(out.glob("part-*"))).splitlines()
    assert got == [ln.upper() for ln in lines if "poison" not in ln]
    bad = _quarantine(out)
    offsets = sorted(sum(len(x) + 1 for x in lines[:i]) for i in (17, 1234, 4000))
    found = sorted(
        int(b["location"].split("byte offset ")[1].split(")")[0].split(":")[0]) for b in bad
    )
    assert found == offsets
    assert all(b["location"].startswith(str(src)) for b in bad)
    assert [b["error"] for b in bad] == ["crashed the worker process"] * 3
    assert result.counters["bad_records.skipped"] == 3
    strict = gm.Config(
        executor="local", workers=2, progress=False, scratch_dir=str(tmp_path / "s"), max_attempts=2
    )
    with pytest.raises(gm.JobFailedError, match="worker process died"):
        gm.read_text(str(src)).map(_die_on_poison).count(config=strict)


def _sum_unless_three(values: Any) -> int:
    values = list(values)
    if len(values) == 3:
        raise ValueError("three")
    return sum(values)


def test_failing_group_is_located_and_others_stay_whole(tmp_path: Path) -> None:
    data = [(k, v) for k in range(40) for v in range(k % 5 + 1)]  # groups of 1..5 values
    ds = gm.from_items(data, partitions=3).group_by_key(2).map_values(_sum_unless_three)
    strict = gm.Config(executor="inline", progress=False, max_attempts=1)
    with pytest.raises(gm.JobFailedError) as info:
        ds.collect(config=strict)
    assert "key 2" in info.value.location  # the first key with three values
    got = dict(ds.collect(config=_cfg("inline", tmp_path)))
    expected = {k: sum(range(k % 5 + 1)) for k in range(40) if k % 5 != 2}
    assert got == expected  # the replayed good groups kept all their values


def _reject_listed(line: str) -> list[int]:
    if line in ("700", "1500"):
        raise ValueError(f"rejected {line}")
    return [int(line)] * 3  # expanding, so outputs outnumber the records of a pass


@pytest.mark.parametrize("skip", [True, False])
def test_bad_records_deep_in_a_large_batch_are_located_by_line(skip: bool, tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("".join(f"{n}\n" for n in range(1, 2001)))  # one batch, many passes
    out = tmp_path / "out"
    ds = gm.read_text(str(src)).flat_map(_reject_listed)
    cfg = _cfg("inline", tmp_path, split_size=1 << 20)
    if not skip:
        cfg = gm.Config(executor="inline", progress=False, scratch_dir=str(tmp_path / "s"))
        with pytest.raises(gm.JobFailedError, match=rf"{src}, line 700 \(byte offset"):
            ds.write_text(str(out), config=cfg)
        assert not out.exists()
        return
    ds.write_text(str(out), config=cfg)
    got = [int(x) for p in sorted(out.glob("part-*")) for x in p.read_text().split()]
    assert got == [n for n in range(1, 2001) if n not in (700, 1500) for _ in range(3)]
    located = sorted(b["location"] for b in _quarantine(out))
    assert [loc.split(", ")[1].split(" (")[0] for loc in located] == ["line 1500", "line 700"]
