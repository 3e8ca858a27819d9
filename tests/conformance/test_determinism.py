"""Same job, same input: byte-identical part files on inline and local, with 1 or 3 workers.

The oracle is plain Python (collections.Counter / sorted) over the generated input file.
"""

from __future__ import annotations

import collections
import operator
import os
from collections.abc import Callable
from pathlib import Path

import pytest

import gristmill as gm
from gristmill.examples.jobs import wordcount
from gristmill.examples.textgen import generate_text

SETUPS = [("inline", 1), ("local", 1), ("local", 3)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "text.txt"
    generate_text(str(path), 600_000, seed=7, vocab_size=2000)
    return path


def _parts(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.name.startswith("part-")}


def _run(build: Callable[[], gm.Dataset], tmp_path: Path, name: str) -> dict[str, dict[str, bytes]]:
    outputs = {}
    for executor, workers in SETUPS:
        cfg = gm.Config(
            executor=executor,
            workers=workers,
            split_size=64 * 1024,
            memory=2 * 1024**2,
            progress=False,
            scratch_dir=str(tmp_path / "scratch"),
        )
        out = tmp_path / f"{name}-{executor}-{workers}"
        build().write_text(str(out), config=cfg)
        assert (out / "_SUCCESS").exists()
        outputs[f"{executor}-{workers}"] = _parts(out)
    first = next(iter(outputs.values()))
    assert len(first) > 1, "the job should write several part files"
    for setup, parts in outputs.items():
        assert parts == first, f"{setup} differs from {SETUPS[0]}"
    return outputs


def _lines(parts: dict[str, bytes]) -> list[str]:
    return b"".join(parts[name] for name in sorted(parts)).decode().splitlines()


def test_wordcount_identical_everywhere_and_equal_to_counter(corpus: Path, tmp_path: Path) -> None:
    outputs = _run(
        lambda: gm.read_text(str(corpus)).flat_map(str.split).count_by_value(), tmp_path, "wc"
    )
    expected = collections.Counter(corpus.read_text().split())
    got = [line.split("\t") for line in _lines(next(iter(outputs.values())))]
    assert {w: int(n) for w, n in got} == dict(expected)
    assert len(got) == len(expected)


def test_generic_chain_matches_count_by_value(corpus: Path, tmp_path: Path) -> None:
    outputs = _run(
        lambda: (
            gm.read_text(str(corpus))
            .flat_map(str.split)
            .map(lambda w: (w, 1))
            .reduce_by_key(operator.add)
        ),
        tmp_path,
        "chain",
    )
    expected = collections.Counter(corpus.read_text().split())
    got = dict(line.split("\t") for line in _lines(next(iter(outputs.values()))))
    assert {w: int(n) for w, n in got.items()} == dict(expected)


@pytest.mark.parametrize("form", ["columnar", "mapreduce"])
def test_wordcount_forms_identical_everywhere(corpus: Path, tmp_path: Path, form: str) -> None:
    outputs = _run(lambda: wordcount([str(corpus)], form), tmp_path, form)
    expected = collections.Counter(corpus.read_text().split())
    got = [line.split("\t") for line in _lines(next(iter(outputs.values())))]
    assert {w: int(n) for w, n in got} == dict(expected)
    assert len(got) == len(expected)


def test_sort_by_is_total_order_across_part_files(corpus: Path, tmp_path: Path) -> None:
    outputs = _run(
        lambda: gm.read_text(str(corpus)).sort_by(lambda line: (len(line), line), partitions=5),
        tmp_path,
        "sort",
    )
    lines = _lines(next(iter(outputs.values())))
    expected = sorted(corpus.read_text().splitlines(), key=lambda line: (len(line), line))
    assert lines == expected


def test_group_and_join_pipeline(corpus: Path, tmp_path: Path) -> None:
    def build() -> gm.Dataset:
        words = gm.read_text(str(corpus)).flat_map(str.split)
        by_letter = words.key_by(lambda w: w[0]).map_values(len).group_by_key()
        sizes = by_letter.map_values(sum)
        vowels = gm.from_items([(c, c in "aeiou") for c in "abcdefghijklmnopqrstuvwxyz"])
        return sizes.join(vowels).map(lambda kv: (kv[0], kv[1][0], kv[1][1]))

    outputs = _run(build, tmp_path, "join")
    totals: collections.Counter[str] = collections.Counter()
    for w in corpus.read_text().split():
        totals[w[0]] += len(w)
    expected = sorted(str((c, n, c in "aeiou")) for c, n in totals.items())
    assert sorted(_lines(next(iter(outputs.values())))) == expected


def test_spills_under_tiny_budget_still_correct(corpus: Path, tmp_path: Path) -> None:
    cfg = gm.Config(
        executor="local",
        workers=2,
        memory=1024**2,
        split_size=256 * 1024,
        progress=False,
        scratch_dir=str(tmp_path),
    )
    pairs = gm.read_text(str(corpus)).flat_map(str.split).map(lambda w: (w, w * 3))
    result = pairs.group_by_key(partitions=3).map_values(lambda v: sum(1 for _ in v))
    out = tmp_path / "out"
    job = result.write_text(str(out), config=cfg)
    assert job.counters["shuffle.spills"] > 0
    expected = collections.Counter(corpus.read_text().split())
    got = dict(line.split("\t") for line in _lines(_parts(out)))
    assert {w: int(n) for w, n in got.items()} == dict(expected)
    leftovers = [p for p in os.listdir(tmp_path) if p.startswith("gristmill-")]
    assert leftovers == [], "scratch must be removed when the job ends"


def test_a_hot_key_is_combined_map_side(tmp_path: Path) -> None:
    # 90% of 200,000 records share one key: map-side combining sends one record per key per
    # spill, so the hot key never funnels its 180,000 values through the shuffle.
    data = [("hot", 1) if i % 10 else (f"k{i}", 1) for i in range(200_000)]
    cfg = gm.Config(executor="local", workers=2, progress=False, memory=4 * 1024**2)
    result = gm.from_items(data, partitions=4).reduce_by_key(operator.add, 3)
    out = tmp_path / "out"
    job = result.write_text(str(out), config=cfg)
    lines = b"".join(p.read_bytes() for p in sorted(out.glob("part-*"))).decode().splitlines()
    expected = collections.Counter(k for k, _ in data)
    assert sorted(lines) == sorted(f"{k}\t{n}" for k, n in expected.items())
    spills = job.counters.get("shuffle.spills", 0)
    assert job.counters["shuffle.records_written"] <= len(expected) - 1 + 4 * (spills + 1)
