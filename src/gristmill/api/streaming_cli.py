"""`gristmill streaming`: Hadoop Streaming's own option names, single dash or double.

``-input IN -output OUT -mapper CMD -reducer CMD [-combiner CMD] [-numReduceTasks N]
[-file PATH] [-cmdenv K=V] [-D mapreduce.job.reduces=N]``: existing command lines run as they are.
"""

from __future__ import annotations

import argparse
import os
import shlex
from collections.abc import Sequence

from gristmill.api.pipes import Command
from gristmill.api.streaming import StreamingJob
from gristmill.errors import UsageError

REDUCES_KEYS = ("mapreduce.job.reduces", "mapred.reduce.tasks")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"streaming: {message}")


def _both(parser: argparse.ArgumentParser, name: str, **kwargs: object) -> None:
    parser.add_argument(f"-{name}", f"--{name}", **kwargs)  # type: ignore[arg-type]


def _reduces(name: str, value: str) -> int:
    """A ``-D`` reduce count; not a number is a usage error, as for ``-numReduceTasks``."""
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"streaming: -D {name}: invalid int value: {value!r}") from None


HELP_FLAGS = frozenset({"-h", "-help", "--help"})


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gristmill streaming",
        add_help=False,
        description="Hadoop Streaming options (single dash, as Hadoop's, or double):",
    )
    _both(parser, "input", action="append", required=True, help="input path; repeatable")
    _both(parser, "output", required=True, help="output directory")
    _both(parser, "mapper", help="map command (stdin lines -> stdout lines); default: identity")
    _both(parser, "reducer", help="reduce command over key-sorted lines, or NONE: map-only")
    _both(parser, "combiner", help="combine command over sorted buffers of a map task's output")
    _both(parser, "numReduceTasks", type=int, help="reduce tasks (0: map-only)")
    _both(parser, "file", action="append", default=[], help="ship a file to tasks; repeatable")
    _both(parser, "cmdenv", action="append", default=[], help="NAME=VALUE for the commands")
    parser.add_argument(
        "-D", action="append", default=[], dest="define", help="mapreduce.job.reduces=N"
    )
    parser.add_argument(
        "--overwrite", "-overwrite", action="store_true", help="replace an existing output"
    )
    return parser


def streaming_help() -> str:
    """The Hadoop Streaming options, as ``gristmill streaming --help`` lists them.

    >>> "-numReduceTasks" in streaming_help()
    True
    """
    return _parser().format_help()


def parse_streaming(args: Sequence[str]) -> tuple[StreamingJob, str, bool]:
    """The job, its output path and whether to overwrite, from Hadoop-style arguments."""
    parser = _parser()
    opts = parser.parse_args(list(args))
    env: list[tuple[str, str]] = []
    for item in opts.cmdenv:
        name, eq, value = item.partition("=")
        if not eq:
            raise UsageError(f"-cmdenv expects NAME=VALUE, got {item!r}")
        env.append((name, value))
    reduces = opts.numReduceTasks
    for item in opts.define:
        name, _, value = item.partition("=")
        if name in REDUCES_KEYS:
            reduces = _reduces(name, value)
    files = tuple(opts.file)
    for path in files:  # found now, not when a task's command cannot open it
        if not os.path.exists(path):  # a file or a directory, linked into each task's dir
            raise UsageError(f"streaming: -file {path}: does not exist")

    def command(line: str | None, option: str) -> Command | None:
        if line is None or line == "NONE":
            return None
        try:
            shlex.split(line)  # as each task will split it
        except ValueError as exc:
            raise UsageError(f"streaming: -{option} {line!r}: {exc}") from None
        return Command(line, tuple(env), files=files)

    if reduces is not None and reduces < 0:
        raise UsageError(f"number of reduce tasks must be >= 0, got {reduces}")
    job = StreamingJob(
        tuple(opts.input),
        command(opts.mapper, "mapper"),
        command(opts.reducer, "reducer"),
        command(opts.combiner, "combiner"),
        reduces,
    )
    return job, opts.output, opts.overwrite
