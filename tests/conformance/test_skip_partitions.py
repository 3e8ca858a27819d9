"""Skip mode through partition functions: map_partitions and MapReduceJob phases, checked
against plain-Python oracles (exact output multisets, exact quarantine contents)."""

from __future__ import annotations

import collections
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_skip_mode import _cfg, _quarantine  # the skip-mode tests' own config and reader

import gristmill as gm
from gristmill.api.mr_compile import compile_job

POISON = "kappa kappa kappa"
WORDS = ("alpha", "beta", "gamma", "delta", "eps", "kappa", "42", "x")


def _corpus(tmp_path: Path, bad: tuple[int, ...] = (37, 1500, 2999)) -> tuple[Path, list[str]]:
    lines = [
        " ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(1 + i % 5)) for i in range(3000)
    ]
    for i in bad:
        lines[i] = f"{POISON} beta {i}"
    src = tmp_path / "in.txt"
    src.write_text("\n".join(lines) + "\n")
    return src, lines


def _lines_out(out: Path) -> list[str]:
    return "".join(p.read_text() for p in sorted(out.glob("part-*"))).splitlines()


def _line_numbers(bad: list[dict[str, str]]) -> list[int]:
    """The 1-based line numbers the quarantine entries name (``PATH, line N (byte ...``)."""
    return sorted(int(b["location"].split(", line ")[1].split(" ")[0]) for b in bad)


def _crash_on_poison(lines: Iterator[str]) -> Iterator[str]:
    for line in lines:
        if POISON in line:
            os._exit(7)  # like a crash in a C extension: no exception, the worker is gone
        yield line.upper()


@pytest.mark.parametrize("strip", [True, False], ids=["after-map", "alone"])
def test_crash_inside_map_partitions_blames_only_the_crashing_records(
    strip: bool, tmp_path: Path
) -> None:
    src, lines = _corpus(tmp_path)
    ds = gm.read_text(str(src))
    if strip:  # record-wise ops in front used to fill a whole batch before the crash
        ds = ds.map(str.strip)
    out = tmp_path / "out"
    result = ds.map_partitions(_crash_on_poison).write_text(
        str(out), config=_cfg("local", tmp_path, split_size=8192)
    )
    assert collections.Counter(_lines_out(out)) == collections.Counter(
        ln.upper() for ln in lines if POISON not in ln
    )
    bad = _quarantine(out)
    assert [b["error"] for b in bad] == ["crashed the worker process"] * 3
    assert sorted(b["record"] for b in bad) == sorted(repr(ln) for ln in lines if POISON in ln)
    assert all(b["location"].startswith(f"{src}, ") for b in bad)
    assert result.counters["bad_records.skipped"] == 3


def _crash_after_reading_all(lines: Iterator[str]) -> Iterator[str]:
    kept = sorted(lines)  # reads ahead: no record is in flight when it dies
    if any(POISON in line for line in kept):
        os._exit(7)
    yield from kept


def _crash_in_chunks(lines: Iterator[str]) -> Iterator[str]:
    chunk: list[str] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == 50:  # dies with the 50th record of a chunk in flight, not the poison
            if any(POISON in c for c in chunk):
                os._exit(7)
            yield from chunk
            chunk = []
    yield from chunk


@pytest.mark.parametrize(
    ("fn", "why"),
    [
        (_crash_after_reading_all, "had read all of its input"),
        (_crash_in_chunks, "survives it alone"),
    ],
)
def test_crash_that_is_no_records_fails_clearly_and_drops_nothing(
    fn: Any, why: str, tmp_path: Path
) -> None:
    src, _ = _corpus(tmp_path, bad=(1500,))
    out = tmp_path / "out"
    cfg = _cfg("local", tmp_path, split_size=1 << 20, max_attempts=2)
    with pytest.raises(gm.JobFailedError, match="cannot narrow") as info:
        gm.read_text(str(src)).map_partitions(fn).write_text(str(out), config=cfg)
    assert why in str(info.value)
    assert not out.exists()


class CrashMap(gm.MapReduceJob):
    def mapper(self, _: None, line: str) -> Iterator[tuple[str, int]]:
        if POISON in line:
            os._exit(7)
        for word in line.split():
            yield word, 1

    def reducer(self, word: str, counts: Iterator[int]) -> Iterator[tuple[str, int]]:
        yield word, sum(counts)


class RaisingMap(gm.MapReduceJob):
    def mapper(self, _: None, line: str) -> Iterator[tuple[str, int]]:
        for word in line.split():  # output made before the raise must not count either
            yield word, 1
        if POISON in line:
            raise ValueError(f"bad line {line}")

    def combiner(self, word: str, counts: Iterator[int]) -> Iterator[tuple[str, int]]:
        yield word, sum(counts)

    def reducer(self, word: str, counts: Iterator[int]) -> Iterator[tuple[str, int]]:
        yield word, sum(counts)


class RaisingReduce(gm.MapReduceJob):
    def mapper(self, _: None, line: str) -> Iterator[tuple[str, int]]:
        for word in line.split():
            yield word, 1

    def reducer(self, word: str, counts: Iterator[int]) -> Iterator[tuple[str, int]]:
        total = 0
        for count in counts:
            total += count
            if word == "kappa" and total == 5:  # part way through the group's values
                raise ValueError("bad key kappa")
        yield word, total


def _counts(out: Path) -> collections.Counter[str]:
    pairs = (line.split("\t") for line in _lines_out(out))
    return collections.Counter({k: int(v) for k, v in pairs})


def _word_oracle(lines: list[str], *, keep: Any = lambda line: True) -> collections.Counter[str]:
    return collections.Counter(w for line in lines if keep(line) for w in line.split())


def test_mapreduce_mapper_crash_skips_only_the_crashing_lines(tmp_path: Path) -> None:
    src, lines = _corpus(tmp_path, bad=(37, 2999))
    out = tmp_path / "out"
    ds = compile_job(CrashMap([]), gm.read_text(str(src)))
    result = ds.write_text(str(out), config=_cfg("local", tmp_path, split_size=8192))
    assert _counts(out) == _word_oracle(lines, keep=lambda ln: POISON not in ln)
    bad = _quarantine(out)
    assert sorted(b["record"] for b in bad) == sorted(repr(ln) for ln in lines if POISON in ln)
    assert [b["error"] for b in bad] == ["crashed the worker process"] * 2
    assert result.counters["bad_records.skipped"] == 2


@pytest.mark.parametrize("executor", ["inline", "local"])
def test_mapreduce_mapper_raising_skips_the_line(executor: str, tmp_path: Path) -> None:
    src, lines = _corpus(tmp_path)
    out = tmp_path / "out"
    ds = compile_job(RaisingMap([]), gm.read_text(str(src)))
    result = ds.write_text(str(out), config=_cfg(executor, tmp_path, split_size=1 << 20))
    assert _counts(out) == _word_oracle(lines, keep=lambda ln: POISON not in ln)
    bad = _quarantine(out)
    expected = [i + 1 for i, ln in enumerate(lines) if POISON in ln]
    assert _line_numbers(bad) == expected  # located by file and line, like record-wise ops
    assert all(b["location"].startswith(f"{src}, line ") for b in bad)
    assert sorted(b["record"] for b in bad) == sorted(repr(ln) for ln in lines if POISON in ln)
    assert sorted(b["error"] for b in bad) == sorted(
        f"ValueError: bad line {ln}" for ln in lines if POISON in ln
    )
    assert result.counters["bad_records.skipped"] == 3


@pytest.mark.parametrize("executor", ["inline", "local"])
def test_mapreduce_reducer_raising_skips_the_key(executor: str, tmp_path: Path) -> None:
    src, lines = _corpus(tmp_path)
    out = tmp_path / "out"
    ds = compile_job(RaisingReduce([]), gm.read_text(str(src)))
    result = ds.write_text(str(out), config=_cfg(executor, tmp_path, split_size=8192))
    expected = _word_oracle(lines)
    del expected["kappa"]
    assert _counts(out) == expected
    (bad,) = _quarantine(out)
    assert "key 'kappa'" in bad["location"] and bad["record"] == "'kappa'"
    assert bad["error"] == "ValueError: bad key kappa"
    assert result.counters["bad_records.skipped"] == 1


def test_mapreduce_raising_still_fails_without_skip_mode(tmp_path: Path) -> None:
    src, _ = _corpus(tmp_path)
    strict = gm.Config(executor="inline", progress=False, max_attempts=1)
    with pytest.raises(gm.JobFailedError, match="bad line"):
        compile_job(RaisingMap([]), gm.read_text(str(src))).count(config=strict)


def test_a_failing_mapper_or_reducer_is_named_by_its_input_line_or_key(tmp_path: Path) -> None:
    src, lines = _corpus(tmp_path, bad=(1500,))
    strict = gm.Config(executor="inline", progress=False, max_attempts=1)
    with pytest.raises(gm.JobFailedError) as mapper:
        compile_job(RaisingMap([]), gm.read_text(str(src))).count(config=strict)
    offset = sum(len(line) + 1 for line in lines[:1500])
    assert f"{src}, line 1501 (byte offset {offset})" in str(mapper.value)
    with pytest.raises(gm.JobFailedError) as reducer:
        compile_job(RaisingReduce([]), gm.read_text(str(src))).count(config=strict)
    assert "input record in flight: shuffle 0 partition" in str(reducer.value)
    assert "key 'kappa'" in str(reducer.value)


class EveryValue(gm.MapReduceJob):
    """A reducer that emits a record per value: its output for one key can be large."""

    def mapper(self, _: None, line: str) -> Iterator[tuple[str, str]]:
        yield "hot", line

    def reducer(self, key: str, values: Iterator[str]) -> Iterator[tuple[str, str]]:
        for value in values:
            if value == "poison":
                raise ValueError("poison value")
            yield key, value


def test_skip_mode_holds_a_large_reducer_output_on_disk_not_dropped(tmp_path: Path) -> None:
    from gristmill.runtime import pipeline

    lines = [f"v{i}" for i in range(3 * pipeline.HELD + 5)]
    src = tmp_path / "in.txt"
    src.write_text("\n".join([*lines, "poison", "x"]) + "\n")
    out = tmp_path / "out"
    ds = compile_job(EveryValue([]), gm.read_text(str(src)))
    ds.write_text(str(out), config=_cfg("inline", tmp_path))
    assert _lines_out(out) == []  # the group raised part way: none of its output is kept
    (bad,) = _quarantine(out)
    assert "key 'hot'" in bad["location"]
    clean = tmp_path / "clean.txt"
    clean.write_text("\n".join(lines) + "\n")
    ds = compile_job(EveryValue([]), gm.read_text(str(clean)))
    ds.write_text(str(tmp_path / "out2"), config=_cfg("inline", tmp_path))
    got = sorted(_lines_out(tmp_path / "out2"))
    assert got == sorted(f"hot\t{v}" for v in lines)  # held past HELD records, all delivered
