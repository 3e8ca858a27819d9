"""Hadoop Streaming command lines, run unchanged, against coreutils and Python oracles."""

from __future__ import annotations

import collections
import os
import subprocess
import sys
from pathlib import Path

import pytest
from gm_cli import run_cli

from gristmill.examples.textgen import generate_text


def stream(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli("streaming", *args, "--workers", "2", cwd=cwd)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("streaming") / "text.txt"
    generate_text(str(path), 200_000, seed=9, vocab_size=800)
    return path


def _parts(out: Path) -> list[str]:
    return "".join(p.read_text() for p in sorted(out.glob("part-*"))).splitlines()


def test_shell_tools_word_count(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = stream(
        "-input",
        str(corpus),
        "-output",
        str(out),
        "-mapper",
        "tr -s ' ' '\\n'",
        "-reducer",
        "uniq -c",
        "-D",
        "mapreduce.job.reduces=3",
    )
    assert done.returncode == 0, done.stderr
    assert len(list(out.glob("part-*"))) == 3
    got: collections.Counter[str] = collections.Counter()
    for line in _parts(out):
        n, word = line.split()
        got[word] += int(n)
    assert got == collections.Counter(corpus.read_text().split())


MAPPER = """import os, sys
assert os.environ["PREFIX"] == "from-cmdenv"
assert os.path.basename(os.environ["mapreduce_map_input_file"]) == "text.txt"
stop = set(open("stop.txt").read().split())
for line in sys.stdin:
    for word in line.split():
        if word in stop:
            sys.stderr.write("reporter:counter:words,stopped,1\\n")
            continue
        print(f"{word}\\t1")
"""

SUMMER = """import sys
last, total = None, 0
for line in sys.stdin:
    word, n = line.rstrip("\\n").split("\\t")
    if word != last and last is not None:
        print(f"{last}\\t{total}")
        total = 0
    last, total = word, total + int(n)
if last is not None:
    print(f"{last}\\t{total}")
"""


def test_python_scripts_with_files_cmdenv_counters(corpus: Path, tmp_path: Path) -> None:
    (tmp_path / "mapper.py").write_text(MAPPER)
    (tmp_path / "summer.py").write_text(SUMMER)
    words = corpus.read_text().split()
    stop_words = set(sorted(set(words))[:20])
    (tmp_path / "stop.txt").write_text(" ".join(sorted(stop_words)))
    out = tmp_path / "out"
    run_dir = tmp_path / "elsewhere"  # the scripts are found only because -file ships them
    run_dir.mkdir()
    done = stream(
        "-input",
        str(corpus),
        "-output",
        str(out),
        "-mapper",
        f"{sys.executable} mapper.py",
        "-combiner",
        f"{sys.executable} summer.py",
        "-reducer",
        f"{sys.executable} summer.py",
        "-file",
        str(tmp_path / "mapper.py"),
        "-file",
        str(tmp_path / "summer.py"),
        "-file",
        str(tmp_path / "stop.txt"),
        "-cmdenv",
        "PREFIX=from-cmdenv",
        cwd=run_dir,
    )
    assert done.returncode == 0, done.stderr
    got = {w: int(n) for w, n in (line.split("\t") for line in _parts(out))}
    assert got == collections.Counter(w for w in words if w not in stop_words)
    stopped = sum(1 for w in words if w in stop_words)
    assert stopped > 0
    assert f"user.words.stopped={stopped}" in done.stderr


def test_map_only_awk_keeps_order(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    program = "length($0) > 60 { print NR % 7, $1 }"
    done = stream(
        "-input",
        str(corpus),
        "-output",
        str(out),
        "-mapper",
        f"awk '{program}'",
        "-reducer",
        "NONE",
    )
    assert done.returncode == 0, done.stderr
    kept = [ln for ln in corpus.read_text().splitlines() if len(ln) > 60]
    assert [ln.split(" ", 1)[1] for ln in _parts(out)] == [ln.split()[0] for ln in kept]


def test_failing_command_fails_the_job_with_its_stderr(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = stream(
        "-input",
        str(corpus),
        "-output",
        str(out),
        "-mapper",
        "sh -c 'echo broken pipe dream >&2; exit 3'",
        "-reducer",
        "cat",
    )
    assert done.returncode == 1
    assert "exited with code 3" in done.stderr and "broken pipe dream" in done.stderr
    assert "attempt 4 failed" in done.stderr  # retried like any failed attempt
    assert not out.exists()


def test_bad_options_are_usage_errors(tmp_path: Path) -> None:
    done = stream("-output", str(tmp_path / "o"), "-mapper", "cat")
    assert done.returncode == 2 and "Traceback" not in done.stderr


@pytest.mark.parametrize("width", [("-numReduceTasks", "abc"), ("-D", "mapreduce.job.reduces=abc")])
def test_a_reduce_count_that_is_not_a_number_is_a_usage_error(
    width: tuple[str, str], corpus: Path, tmp_path: Path
) -> None:
    done = stream("-input", str(corpus), "-output", str(tmp_path / "o"), "-mapper", "cat", *width)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "invalid int value: 'abc'" in done.stderr


@pytest.mark.parametrize("flag", ["--help", "-help", "-h"])
def test_help_lists_hadoop_and_engine_options(flag: str, tmp_path: Path) -> None:
    # Help is off in the command's own parser so Hadoop's options pass through; it must
    # still answer, and run nothing (no output appears even with -output given).
    done = run_cli("streaming", "-input", "x", "-output", str(tmp_path / "out"), flag)
    assert done.returncode == 0, done.stderr
    for option in ("-numReduceTasks", "-cmdenv", "-mapper", "--workers", "--memory"):
        assert option in done.stdout
    assert not (tmp_path / "out").exists()


def test_hadoops_own_idiom_a_shipped_script_named_as_the_mapper(
    corpus: Path, tmp_path: Path
) -> None:
    # Hadoop's documented `-mapper myPythonScript.py -file myPythonScript.py`: the script
    # need not be executable, nor on PATH; it runs from the task's working directory.
    script = tmp_path / "words.py"
    script.write_text(
        "#!" + sys.executable + "\nimport sys\n"
        "for line in sys.stdin:\n    for w in line.split():\n        print(w)\n"
    )
    out = tmp_path / "out"
    done = stream(
        "-input", str(corpus), "-output", str(out), "-mapper", "words.py",
        "-reducer", "uniq -c", "-file", str(script),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    got: collections.Counter[str] = collections.Counter()
    for line in _parts(out):
        n, word = line.split()
        got[word] += int(n)
    assert got == collections.Counter(corpus.read_text().split())
    assert not os.access(script, os.X_OK)  # the user's own file keeps its mode


def test_a_shipped_directory_is_linked_into_the_tasks_directory(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "upper.py").write_text("import sys\nfor l in sys.stdin:\n    print(l.strip().upper())\n")
    (tmp_path / "in.txt").write_text("a\nb\n")
    done = stream(
        "-input", str(tmp_path / "in.txt"), "-output", str(tmp_path / "out"),
        "-mapper", f"{sys.executable} lib/upper.py", "-reducer", "NONE", "-file", str(lib),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(_parts(tmp_path / "out")) == ["A", "B"]
