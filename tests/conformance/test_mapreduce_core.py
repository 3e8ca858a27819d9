"""MapReduceJob on every executor, checked against plain-Python oracles (for the shuffle byte
counters: the run files on disk)."""

from __future__ import annotations

import collections
import dataclasses
import io
import operator
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import gristmill as gm
from gristmill.api import mr_compile
from gristmill.api.execute import plan_for
from gristmill.api.mr_compile import compile_job
from gristmill.examples.textgen import generate_text
from gristmill.plan.sinks import Sink, SinkKind
from gristmill.runtime.events import Event, Listener, StageStarted
from gristmill.runtime.progress import LogProgress, _fmt_bytes
from gristmill.runtime.scheduler import run_job


class WordCount(gm.MapReduceJob):
    def mapper(self, _: None, line: str) -> Iterator[tuple[str, int]]:
        for word in line.split():
            self.increment_counter("words", "seen")
            yield word, 1

    def combiner(self, word: str, counts: Iterator[int]) -> Iterator[tuple[str, int]]:
        yield word, sum(counts)

    def reducer(self, word: str, counts: Iterator[int]) -> Iterator[tuple[str, int]]:
        yield word, sum(counts)


class MostFrequentWord(gm.MapReduceJob):
    def steps(self) -> list[gm.Step]:
        return [
            gm.Step(mapper=self.words, combiner=self.total, reducer=self.total),
            gm.Step(mapper=self.to_one_key, reducer=self.pick_max),
        ]

    def words(self, _: None, line: str) -> Iterator[tuple[str, int]]:
        for word in line.split():
            yield word, 1

    def total(self, word: str, counts: Iterator[int]) -> Iterator[tuple[str, int]]:
        yield word, sum(counts)

    def to_one_key(self, word: str, count: int) -> Iterator[tuple[None, tuple[int, str]]]:
        yield None, (count, word)

    def pick_max(self, _: None, pairs: Iterator[tuple[int, str]]) -> Iterator[Any]:
        yield max(pairs)


class PerTaskTotals(gm.MapReduceJob):
    """Map-only: mapper_init/final run once per task; nothing is shuffled."""

    def mapper_init(self) -> None:
        self.lines = 0

    def mapper(self, _: None, line: str) -> None:
        self.lines += 1

    def mapper_final(self) -> Iterator[tuple[str, int]]:
        yield "lines", self.lines


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mr") / "text.txt"
    generate_text(str(path), 400_000, seed=11, vocab_size=3000)
    return path


@pytest.fixture(params=["inline", "local"])
def config(request: pytest.FixtureRequest, tmp_path: Path) -> gm.Config:
    return gm.Config(
        executor=request.param,
        workers=2,
        split_size=50_000,
        progress=False,
        scratch_dir=str(tmp_path),
    )


def test_wordcount_and_counters(corpus: Path, config: gm.Config) -> None:
    ds = compile_job(WordCount([]), gm.read_text(str(corpus)))
    got = ds.collect(config=config)
    expected = collections.Counter(corpus.read_text().split())
    assert dict(got) == dict(expected) and len(got) == len(expected)
    out = Path(config.scratch_dir) / "out"
    result = ds.write_text(str(out), config=config)
    assert result.counters["user.words.seen"] == sum(expected.values())
    for part in sorted(out.glob("part-*")):  # reducers see keys in sorted order
        keys = [line.split("\t")[0] for line in part.read_text().splitlines()]
        assert keys == sorted(keys)


@pytest.mark.parametrize("executor", ["inline", "local"])
def test_run_returns_the_job_result(corpus: Path, tmp_path: Path, executor: str) -> None:
    # The public way to a MapReduceJob's counters: run() with the script's command line.
    out = tmp_path / "out"
    args = [str(corpus), "-o", str(out), "--executor", executor, "--workers", "2"]
    result = WordCount([*args, "--split-size", "50KB", "--no-progress"]).run()
    expected = collections.Counter(corpus.read_text().split())
    assert result.counters["user.words.seen"] == sum(expected.values())
    got: collections.Counter[str] = collections.Counter()
    for part in result.output_paths:
        for line in Path(part).read_text().splitlines():
            word, count = gm.decode_line(line)
            got[word] += count
    assert got == expected and len(result.output_paths) > 1
    with pytest.raises(gm.errors.OutputExistsError):  # errors raise: no sys.exit
        WordCount(args).run()


def test_two_step_job(corpus: Path, config: gm.Config) -> None:
    got = compile_job(MostFrequentWord([]), gm.read_text(str(corpus))).collect(config=config)
    counts = collections.Counter(corpus.read_text().split())
    assert got == [max((n, w) for w, n in counts.items())]


def test_map_only_job_with_init_and_final(corpus: Path, config: gm.Config) -> None:
    got = compile_job(PerTaskTotals([]), gm.read_text(str(corpus))).collect(config=config)
    assert len(got) > 1, "one total per map task"
    assert sum(n for _, n in got) == len(corpus.read_text().splitlines())


class CountedHooks(WordCount):
    """Every `_init` / `_final` hook counts its calls; each must run once per task."""

    def mapper_init(self) -> None:
        self.increment_counter("hooks", "mapper_init")

    def mapper_final(self) -> None:
        self.increment_counter("hooks", "mapper_final")

    def combiner_init(self) -> None:
        self.increment_counter("hooks", "combiner_init")

    def combiner_final(self) -> None:
        self.increment_counter("hooks", "combiner_final")

    def reducer_init(self) -> None:
        self.increment_counter("hooks", "reducer_init")

    def reducer_final(self) -> None:
        self.increment_counter("hooks", "reducer_final")


@pytest.mark.parametrize("executor", ["inline", "local"])
def test_init_and_final_hooks_run_once_per_task(
    executor: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "words.txt"
    src.write_text("a b c d e f g h i j\n" * 25_000)  # 250,000 pairs: 3 combiner buffers
    monkeypatch.setattr(mr_compile, "COMBINE_MAX", 100_000)  # workers fork with it
    cfg = gm.Config(
        executor=executor, workers=2, partitions=3, progress=False, scratch_dir=str(tmp_path)
    )
    result = compile_job(CountedHooks([]), gm.read_text(str(src))).write_text(
        str(tmp_path / "out"), config=cfg
    )
    maps, reduces = (stage.tasks for stage in result.stages)
    assert maps == 1 and reduces == 3
    hooks = {k: v for k, v in result.counters.items() if k.startswith("user.hooks.")}
    assert hooks == {
        "user.hooks.mapper_init": maps,
        "user.hooks.mapper_final": maps,
        "user.hooks.combiner_init": maps,
        "user.hooks.combiner_final": maps,
        "user.hooks.reducer_init": reduces,
        "user.hooks.reducer_final": reduces,
    }


def test_counters_count_committed_attempts_only(corpus: Path, tmp_path: Path) -> None:
    marker = tmp_path / "failed-once"

    class Flaky(WordCount):
        def reducer(self, word: str, counts: Iterator[int]) -> Iterator[tuple[str, int]]:
            if not marker.exists():
                marker.write_text("x")
                raise RuntimeError("transient")
            yield from super().reducer(word, counts)

    cfg = gm.Config(executor="local", workers=2, progress=False, scratch_dir=str(tmp_path))
    result = compile_job(Flaky([]), gm.read_text(str(corpus))).write_text(
        str(tmp_path / "out"), config=cfg
    )
    assert marker.exists()
    assert result.counters["user.words.seen"] == len(corpus.read_text().split())


class MapRunFiles:
    """Listener: the map-output run files as each stage starts, before the job's scratch goes.

    Only finished map output exists then; a reducer's own merge files come later.
    """

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.seen: dict[Path, tuple[int, int]] = {}  # path: (size on disk, bytes of its frames)

    def __call__(self, event: Event) -> None:
        if isinstance(event, StageStarted):
            for path in self.scratch.glob("gristmill-*/shuffle-*/map-*.run"):
                self.seen[path] = (path.stat().st_size, _frame_bytes(path))


def _frame_bytes(path: Path) -> int:
    """A run file is frames, then the index, then a trailer whose first 8 bytes are the index's
    offset: so the frames are that many bytes."""
    with path.open("rb") as f:
        f.seek(-16, os.SEEK_END)
        offset: int = struct.unpack("<Q", f.read(8))[0]
        return offset


def _word_pairs(line: str) -> list[tuple[str, int]]:
    return [(word, 1) for word in line.split()]


@pytest.fixture(scope="module")
def word_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three files of many distinct words: map buffers outgrow a 1MB budget and spill."""
    folder = tmp_path_factory.mktemp("words")
    generate_text(str(folder / "all.txt"), 900_000, seed=5, vocab_size=300_000)
    lines = (folder / "all.txt").read_text().splitlines(keepends=True)
    files = [folder / f"in-{i}.txt" for i in range(3)]
    for i, path in enumerate(files):
        path.write_text("".join(lines[i::3]))
    return files


@pytest.mark.parametrize("form", ["reduce_by_key", "count_by_value", "mapreduce"])
def test_shuffle_bytes_read_are_the_map_runs_frames(
    form: str, word_files: list[Path], config: gm.Config
) -> None:
    text = gm.read_text([str(f) for f in word_files])
    if form == "reduce_by_key":
        ds = text.flat_map(_word_pairs).reduce_by_key(operator.add, 3)
    elif form == "count_by_value":
        ds = text.flat_map(str.split).count_by_value(3)
    else:
        ds = compile_job(WordCount([]), text)
    # The small budget also makes reducers merge through their own scratch run files, which
    # are not shuffle input and must not be counted.
    cfg = dataclasses.replace(config, memory=1024**2, partitions=3, split_size=300_000)
    runs, log = MapRunFiles(Path(cfg.scratch_dir)), io.StringIO()
    listeners: list[Listener] = [runs, LogProgress(log)]
    job = run_job(plan_for(ds.node, cfg), Sink(SinkKind.COLLECT), cfg, listeners=listeners)
    words = collections.Counter(w for f in word_files for w in f.read_text().split())
    assert dict(job.records) == dict(words)
    counters = job.result.counters
    if form != "mapreduce":  # one record per word, folded as made (no list of them)
        assert counters["map.output_records"] == sum(words.values())
    assert counters["shuffle.spills"] > 0
    assert counters["shuffle.bytes_written"] == sum(size for size, _ in runs.seen.values())
    frames = sum(frame_bytes for _, frame_bytes in runs.seen.values())
    assert counters["shuffle.bytes_read"] == frames > 0
    map_stage, reduce_stage = job.result.stages
    assert reduce_stage.counters["shuffle.bytes_read"] == frames
    assert "shuffle.bytes_read" not in map_stage.counters
    reduce_line = log.getvalue().splitlines()[-2]  # the last stage's line, then the summary
    assert f"stage {reduce_stage.stage_id} done" in reduce_line
    assert f"records in ({_fmt_bytes(frames)})" in reduce_line


SCRIPT = """
import gristmill as gm

class Grep(gm.MapReduceJob):
    def configure_args(self):
        self.add_passthru_arg("--needle", required=True)

    def mapper(self, _, line):
        if self.options.needle in line:
            self.increment_counter("grep", "hits")
            yield line.split()[0], 1

    def reducer(self, key, ones):
        yield key, sum(ones)

if __name__ == "__main__":
    Grep.main()
"""


def test_job_script_command_line(corpus: Path, tmp_path: Path) -> None:
    script = tmp_path / "grepjob.py"
    script.write_text(SCRIPT)
    lines = [ln for ln in corpus.read_text().splitlines() if "ab" in ln]
    expected = sorted(
        f"{k}\t{n}" for k, n in collections.Counter(ln.split()[0] for ln in lines).items()
    )
    bindir = os.path.dirname(sys.executable)
    runs = {
        "python": [sys.executable, str(script)],
        "gristmill run": [os.path.join(bindir, "gristmill"), "run", "--workers", "2", str(script)],
    }
    for name, cmd in runs.items():
        out = tmp_path / name.replace(" ", "-")
        done = subprocess.run(
            [*cmd, str(corpus), "-o", str(out), "--needle", "ab"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, (name, done.stderr)
        assert f"counter grep.hits = {len(lines)}" in done.stderr
        got = sorted("".join(p.read_text() for p in out.glob("part-*")).splitlines())
        assert got == expected, name
    bad = subprocess.run(
        [sys.executable, str(script), str(corpus)], capture_output=True, text=True, check=False
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


@pytest.mark.parametrize("where", ["before the inputs", "after the inputs", "stdin, no inputs"])
def test_job_options_go_anywhere_on_the_command_line(
    where: str, corpus: Path, tmp_path: Path
) -> None:
    script = tmp_path / "grepjob.py"
    script.write_text(SCRIPT)
    text = corpus.read_text()
    hits = collections.Counter(ln.split()[0] for ln in text.splitlines() if "ab" in ln)
    needle, inputs = ["--needle", "ab"], [str(corpus), "--workers", "2"]
    argv = {
        "before the inputs": [*needle, *inputs],
        "after the inputs": [*inputs, *needle],
        "stdin, no inputs": [*needle, "--workers", "2"],
    }[where]
    done = subprocess.run(
        [sys.executable, str(script), *argv, "--no-progress"],
        input=text if where.startswith("stdin") else None,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    got = dict(line.split("\t") for line in done.stdout.splitlines())
    assert {k: int(n) for k, n in got.items()} == dict(hits)


def test_a_job_option_named_like_an_engine_flag_is_a_usage_error(tmp_path: Path) -> None:
    script = tmp_path / "own.py"
    script.write_text(
        "import gristmill as gm\n"
        "class J(gm.MapReduceJob):\n"
        "    def configure_args(self):\n"
        "        self.add_passthru_arg('--overwrite', default='never')\n"
        "    def mapper(self, _, line):\n"
        "        yield line, 1\n"
        "if __name__ == '__main__':\n"
        "    J.main()\n"
    )
    kept = tmp_path / "out"
    kept.mkdir()
    (kept / "precious.txt").write_text("keep me")
    done = subprocess.run(
        [sys.executable, str(script), "-o", str(kept), "--no-progress"],
        input="a\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "--overwrite" in done.stderr and "another name" in done.stderr
    assert (kept / "precious.txt").read_text() == "keep me"


def test_stdin_to_stdout_pipeline(tmp_path: Path) -> None:
    script = tmp_path / "wc.py"
    script.write_text(
        "import gristmill as gm\n"
        "class WC(gm.MapReduceJob):\n"
        "    def mapper(self, _, line):\n"
        "        for w in line.split():\n"
        "            yield w, 1\n"
        "    def reducer(self, w, c):\n"
        "        yield w, sum(c)\n"
        "if __name__ == '__main__':\n"
        "    WC.main()\n"
    )
    text = "b a\na c\n" * 1000
    done = subprocess.run(
        [sys.executable, str(script), "--workers", "2", "--no-progress"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    expected = collections.Counter(text.split())
    got = dict(line.split("\t") for line in done.stdout.splitlines())
    assert {w: int(n) for w, n in got.items()} == dict(expected)


class LatestVisits(gm.MapReduceJob):
    """Secondary sort: each user's visits arrive newest first via value_sort_key."""

    def mapper(self, _: None, line: str) -> Iterator[tuple[str, tuple[int, str]]]:
        user, ts, page = line.split(",")
        yield user, (int(ts), page)

    def value_sort_key(self, visit: tuple[int, str]) -> Any:
        return -visit[0], visit[1]

    def reducer(self, user: str, visits: Iterator[tuple[int, str]]) -> Iterator[Any]:
        yield user, [page for _, page in visits]


class SortedValues(gm.MapReduceJob):
    SORT_VALUES = True

    def mapper(self, _: None, line: str) -> Iterator[tuple[str, int]]:
        key, value = line.split()
        yield key, int(value)

    def reducer(self, key: str, values: Iterator[int]) -> Iterator[Any]:
        yield key, list(values)


def test_secondary_sort(config: gm.Config, tmp_path: Path) -> None:
    import random

    rng = random.Random(5)
    rows = [(f"u{rng.randint(0, 9)}", rng.randint(0, 10**6), f"p{i}") for i in range(3000)]
    src = tmp_path / "visits.csv"
    src.write_text("".join(f"{u},{t},{p}\n" for u, t, p in rows))
    got = dict(compile_job(LatestVisits([]), gm.read_text(str(src))).collect(config=config))
    expected: dict[str, list[tuple[int, str]]] = collections.defaultdict(list)
    for u, t, p in rows:
        expected[u].append((t, p))
    assert got == {
        u: [p for _, p in sorted(v, key=lambda tp: (-tp[0], tp[1]))] for u, v in expected.items()
    }
    nums = tmp_path / "nums.txt"
    nums.write_text("".join(f"k{i % 3} {rng.randint(0, 99)}\n" for i in range(500)))
    got2 = dict(compile_job(SortedValues([]), gm.read_text(str(nums))).collect(config=config))
    assert all(v == sorted(v) for v in got2.values()) and sum(map(len, got2.values())) == 500


class ReduceSideJoin(gm.MapReduceJob):
    """Orders joined with customers, the classic way: tag by input file, join in the reducer."""

    def mapper(self, _: None, line: str) -> Iterator[tuple[str, tuple[str, str]]]:
        source = os.path.basename(os.environ["mapreduce_map_input_file"])  # noqa: SIM112 (Hadoop name)
        key, rest = line.split(",", 1)
        yield key, ("customer" if source.startswith("customers") else "order", rest)

    def reducer(self, key: str, tagged: Iterator[tuple[str, str]]) -> Iterator[Any]:
        rows = list(tagged)
        names = [rest for tag, rest in rows if tag == "customer"]
        for tag, rest in rows:
            if tag == "order":
                for name in names:
                    yield key, (name, rest)


def test_reduce_side_join_of_two_inputs(config: gm.Config, tmp_path: Path) -> None:
    customers = {f"c{i}": f"name{i}" for i in range(50)}
    orders = [(f"c{(i * 7) % 60}", f"item{i}") for i in range(400)]  # some without a customer
    (tmp_path / "customers.csv").write_text("".join(f"{k},{v}\n" for k, v in customers.items()))
    (tmp_path / "orders.csv").write_text("".join(f"{k},{v}\n" for k, v in orders))
    inputs = [str(tmp_path / "customers.csv"), str(tmp_path / "orders.csv")]
    got = compile_job(ReduceSideJoin([]), gm.read_text(inputs)).collect(config=config)
    expected = [(k, (customers[k], item)) for k, item in orders if k in customers]
    assert sorted(got) == sorted(expected)
    assert "mapreduce_map_input_file" not in os.environ  # restored after inline tasks


SIDE_FILES_JOB = """
import gristmill as gm

class Lookup(gm.MapReduceJob):
    FILES = ["stop.txt"]

    def configure_args(self):
        self.add_file_arg("--names")

    def mapper_init(self):
        self.stop = set(open("stop.txt").read().split())
        self.names = dict(line.split() for line in open(self.options.names))

    def mapper(self, _, line):
        for word in line.split():
            if word not in self.stop:
                yield self.names.get(word, word), 1

    def reducer(self, key, ones):
        yield key, sum(ones)

if __name__ == "__main__":
    Lookup.main()
"""


@pytest.mark.parametrize("executor", ["inline", "local"])
def test_side_files_reach_every_task(executor: str, tmp_path: Path) -> None:
    jobdir = tmp_path / "job"
    jobdir.mkdir()
    (jobdir / "lookup.py").write_text(SIDE_FILES_JOB)
    (jobdir / "stop.txt").write_text("the a")
    names = tmp_path / "names.tsv"
    names.write_text("cat CAT\ndog DOG\n")
    src = tmp_path / "in.txt"
    src.write_text("the cat and a dog\n" * 50 + "cat\n")
    out = tmp_path / "out"
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    done = subprocess.run(
        [
            sys.executable,
            str(jobdir / "lookup.py"),
            str(src),
            "-o",
            str(out),
            "--names",
            str(names),
            "--executor",
            executor,
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    got = dict(
        gm.decode_line(line)
        for p in sorted(out.glob("part-*"))
        for line in p.read_text().splitlines()
    )
    assert got == {"CAT": 51, "DOG": 50, "and": 50}
    missing = subprocess.run(
        [
            sys.executable,
            str(jobdir / "lookup.py"),
            str(src),
            "-o",
            str(tmp_path / "o2"),
            "--names",
            str(tmp_path / "nope.tsv"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_classics_agree_between_mapreducejob_and_dataset(corpus: Path, config: gm.Config) -> None:
    """Most frequent word and a join, written both ways, give the same answer."""
    words = gm.read_text(str(corpus)).flat_map(str.split)
    (best,) = words.count_by_value().top(1, key=lambda wc: (wc[1], wc[0]), config=config)
    (mr_best,) = compile_job(MostFrequentWord([]), gm.read_text(str(corpus))).collect(config=config)
    assert mr_best == (best[1], best[0])
    sorted_by_key = dict(
        words.map(lambda w: (w[0], len(w)))
        .group_by_key(sort_values=True)
        .map_values(list)
        .collect(config=config)
    )
    assert all(v == sorted(v) for v in sorted_by_key.values())
