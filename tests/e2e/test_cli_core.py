"""The CLI as a user runs it: outputs checked against coreutils oracles (sort, uniq, grep)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from gm_cli import run_cli

from gristmill.examples.textgen import generate_text

gm = run_cli


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "text.txt"
    generate_text(str(path), 300_000, seed=3, vocab_size=500)
    return path


def _output_lines(out: Path) -> list[str]:
    text = "".join(p.read_text() for p in sorted(out.glob("part-*")))
    return text.splitlines()


@pytest.mark.parametrize("form", ["count_by_value", "mapreduce"])
def test_wordcount_matches_sort_uniq(corpus: Path, tmp_path: Path, form: str) -> None:
    out = tmp_path / "wc"
    done = gm("example", "wordcount", str(corpus), "-o", str(out), "--workers", "2", "--form", form)
    assert done.returncode == 0, done.stderr
    assert "input.records=" in done.stderr  # the one-line summary
    assert f"{out}/part-00000" in done.stdout
    oracle = subprocess.run(
        f"tr -s ' ' '\\n' < {corpus} | sort | uniq -c",
        shell=True,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    expected = sorted(f"{w}\t{n}" for n, w in (ln.split() for ln in oracle.splitlines()))
    assert sorted(_output_lines(out)) == expected


@pytest.mark.parametrize("form", ["records", "columnar"])
def test_grep_matches_grep(corpus: Path, tmp_path: Path, form: str) -> None:
    out = tmp_path / "grep"
    args = ["--pattern", "^a[a-m]+ ", "--form", form, "--split-size", "1MB", "--workers", "2"]
    done = gm("example", "grep", str(corpus), "-o", str(out), *args)
    assert done.returncode == 0, done.stderr
    oracle = subprocess.run(
        ["grep", "-E", "^a[a-m]+ ", str(corpus)], capture_output=True, text=True, check=True
    )
    assert _output_lines(out) == oracle.stdout.splitlines()


def test_run_passes_args_and_flags(tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text(
        "import sys, gristmill as gm\n"
        "cfg = gm.Config.resolve()\n"
        "print('argv', sys.argv[1:], cfg.executor, cfg.workers)\n"
        "print('count', gm.from_items(range(int(sys.argv[1]))).count())\n"
    )
    done = gm("run", "--executor", "inline", "--workers", "3", str(script), "7", "--flag")
    assert done.returncode == 0, done.stderr
    assert "argv ['7', '--flag'] inline 3" in done.stdout
    assert "count 7" in done.stdout


@pytest.mark.parametrize(
    ("preset", "want"),
    [
        ({}, "1"),
        ({"OPENBLAS_NUM_THREADS": "3"}, "3"),
        ({"OMP_NUM_THREADS": "2"}, None),  # OpenBLAS would prefer ours to the user's
        ({"GOTO_NUM_THREADS": "2"}, None),
    ],
)
def test_blas_threads_default_to_one_unless_the_user_sets_them(
    tmp_path: Path, preset: dict[str, str], want: str | None
) -> None:
    # The driver's and the workers' numpy see one OpenBLAS thread: the workers are the cores.
    script = tmp_path / "job.py"
    script.write_text(
        "import os, gristmill as gm\n"
        "def threads(_):\n    return os.environ.get('OPENBLAS_NUM_THREADS')\n"
        "print('driver', threads(0))\n"
        "seen = gm.from_items(range(4), partitions=2).map(threads).collect()\n"
        "print('workers', sorted(set(seen)))\n"
    )
    blas = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")
    env = {k: v for k, v in os.environ.items() if k not in blas} | preset
    done = gm("run", "--workers", "2", str(script), env=env)
    assert done.returncode == 0, done.stderr
    assert f"driver {want}" in done.stdout
    assert f"workers [{want!r}]" in done.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["example", "wordcount", "x.txt"],
        ["example", "wordcount", "missing.txt", "-o", "out"],
        ["example", "wordcount", "x.txt", "-o", "out", "--memory", "lots"],
        ["example", "grep", "x.txt", "-o", "out", "--pattern", "("],
        # a backreference: Python's re has them, RE2 does not
        ["example", "grep", "x.txt", "-o", "out", "--pattern", "(a)\\1", "--form", "columnar"],
        ["run", "no-such-script.py"],
    ],
)
def test_usage_errors_exit_2_without_traceback(args: list[str], tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("a b\n")
    done = gm(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["run", "syn.py"], "syn.py, line 1: invalid syntax"),
        (["run", "--bogus", "syn.py"], "no such option: --bogus"),
        (["example", "wordcount", "x.txt", "-o", "", "--overwrite"], "output path is empty"),
        (["example", "wordcount", "x.txt", "-o", "afile/sub"], "afile is not a directory"),
        (["example", "ordersgen", "1KB", "-o", "og"], "og already holds orders.csv"),
        (["example", "ordersgen", "1KB", "-o", "afile"], "afile is not a directory"),
        (
            ["streaming", "-input", "x.txt", "-output", "o", "-file", "nope"],
            "-file nope: does not exist",
        ),
        (["streaming", "-input", "x.txt", "-output", "o", "-mapper", 'cat "x'], "-mapper 'cat"),
    ],
)
def test_mistakes_are_usage_errors_naming_the_culprit(
    args: list[str], says: str, tmp_path: Path
) -> None:
    (tmp_path / "x.txt").write_text("a b\n")
    (tmp_path / "syn.py").write_text("def f(:\n")
    (tmp_path / "afile").write_text("not a directory\n")
    (tmp_path / "og").mkdir()
    (tmp_path / "og" / "orders.csv").write_text("kept\n")
    (tmp_path / "og" / "products.csv").write_text("kept\n")
    done = gm(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr
    assert (tmp_path / "og" / "orders.csv").read_text() == "kept\n"
    assert sorted(os.listdir(tmp_path)) == ["afile", "og", "syn.py", "x.txt"]  # nothing made


def test_run_takes_a_zipapp(tmp_path: Path) -> None:
    import zipapp

    src = tmp_path / "app"
    src.mkdir()
    (src / "__main__.py").write_text("print('from the zipapp')\n")
    zipapp.create_archive(src, tmp_path / "app.pyz")
    done = gm("run", "app.pyz", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "from the zipapp"


def test_a_scripts_own_error_shows_its_frames_not_the_clis(tmp_path: Path) -> None:
    (tmp_path / "s.py").write_text("def f():\n    raise ValueError('mine')\nf()\n")
    done = gm("run", "s.py", cwd=tmp_path)
    assert done.returncode == 1
    assert 'File "s.py", line 3, in <module>' in done.stderr
    assert "ValueError: mine" in done.stderr and "click" not in done.stderr


def test_job_failure_exits_1_and_existing_output_is_kept(tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text(
        "import sys, gristmill as gm\n"
        "def f(x):\n    raise KeyError(x)\n"
        "gm.from_items([1]).map(f).write_text(sys.argv[1], overwrite=True)\n"
    )
    out = tmp_path / "out"
    out.mkdir()
    (out / "part-00000").write_text("previous\n")
    done = gm("run", "--executor", "inline", str(script), str(out))
    assert done.returncode == 1
    assert "KeyError" in done.stderr and "job failed" in done.stderr
    assert (out / "part-00000").read_text() == "previous\n"
    refused = gm("example", "wordcount", str(script), "-o", str(out))
    assert refused.returncode == 2 and "already exists" in refused.stderr


def test_import_stays_light() -> None:
    code = (
        "import sys, gristmill\n"
        "heavy = ('ray', 'pyarrow', 'fsspec', 'rich', 'numpy', 'psutil')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_replay_reruns_the_failed_attempt_in_process(tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text(
        "import sys, gristmill as gm\n"
        "def parse(line):\n"
        "    return int(line)\n"
        "gm.read_text(sys.argv[1]).map(parse).write_text(sys.argv[2])\n"
    )
    src = tmp_path / "in.txt"
    src.write_text("1\n2\nthree\n4\n")
    env = {**os.environ, "GRISTMILL_HOME": str(tmp_path / "home")}
    failed = gm("run", "--workers", "2", str(script), str(src), str(tmp_path / "out"), env=env)
    assert failed.returncode == 1
    bundle = failed.stderr.split("gristmill replay ")[1].split()[0]
    replayed = gm("replay", bundle, env=env)
    assert replayed.returncode == 1
    assert "in parse" in replayed.stderr and "invalid literal for int()" in replayed.stderr
    assert f"{src}, line 3 (byte offset 4)" in replayed.stderr
    debugged = gm("replay", bundle, "--pdb", env=env, stdin="p line\nq\n")
    assert "'three'" in debugged.stdout  # pdb stopped in the user's frame
    bad_id = gm("replay", "../etc/passwd", env=env)
    assert bad_id.returncode == 2 and "not a replay id" in bad_id.stderr


def test_replay_of_a_reduce_task_uses_its_saved_shuffle_input(tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text(
        "import sys, gristmill as gm\n"
        "def total(values):\n"
        "    values = list(values)\n"
        "    if len(values) == 3:\n"
        "        raise ValueError(f'three values: {sorted(values)}')\n"
        "    return sum(values)\n"
        "pairs = gm.read_text(sys.argv[1]).map(lambda ln: (ln.split()[0], int(ln.split()[1])))\n"
        "pairs.group_by_key(partitions=3).map_values(total).write_text(sys.argv[2])\n"
    )
    src = tmp_path / "in.txt"
    src.write_text("a 1\nb 2\nc 3\nc 4\nc 5\nd 6\n")
    env = {**os.environ, "GRISTMILL_HOME": str(tmp_path / "home")}
    failed = gm("run", "--workers", "2", str(script), str(src), str(tmp_path / "out"), env=env)
    assert failed.returncode == 1 and "stage 1" in failed.stderr
    bundle = failed.stderr.split("gristmill replay ")[1].split()[0]
    replayed = gm("replay", bundle, env=env)
    assert replayed.returncode == 1
    assert "ValueError: three values: [3, 4, 5]" in replayed.stderr
    assert "key 'c'" in replayed.stderr
