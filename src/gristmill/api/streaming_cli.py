"""`gristmill streaming`: Hadoop Streaming's own option names, single dash or double.

``-input IN -output OUT -mapper CMD -reducer CMD [-combiner CMD] [-numReduceTasks N]
[-file PATH] [-cmdenv K=V] [-D mapreduce.job.reduces=N]``: existing command lines run as they are.
"""

from __future__ import annotations

import argparse
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


def parse_streaming(args: Sequence[str]) -> tuple[StreamingJob, str, bool]:
    """The job, its output path and whether to overwrite, from Hadoop-style arguments."""
    parser = _Parser(prog="gristmill streaming", add_help=False)
    _both(parser, "input", action="append", required=True)
    _both(parser, "output", required=True)
    _both(parser, "mapper")
    _both(parser, "reducer")
    _both(parser, "combiner")
    _both(parser, "numReduceTasks", type=int)
    _both(parser, "file", action="append", default=[])
    _both(parser, "cmdenv", action="append", default=[])
    parser.add_argument("-D", action="append", default=[], dest="define")
    parser.add_argument("--overwrite", "-overwrite", action="store_true")
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

    def command(line: str | None) -> Command | None:
        if line is None or line == "NONE":
            return None
        return Command(line, tuple(env), files=files)

    if reduces is not None and reduces < 0:
        raise UsageError(f"number of reduce tasks must be >= 0, got {reduces}")
    job = StreamingJob(
        tuple(opts.input),
        command(opts.mapper),
        command(opts.reducer),
        command(opts.combiner),
        reduces,
    )
    return job, opts.output, opts.overwrite
