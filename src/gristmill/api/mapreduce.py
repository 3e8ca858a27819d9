"""`MapReduceJob`: the classic mapper / combiner / reducer model (Hadoop, mrjob), on our engine.

The class holds only what a user overrides or calls: the phase methods (any may be absent),
`steps()`, options and counters. Compiling a job to a Dataset lives in `api.mr_compile` and
the command line in `api.mr_cli`, so this base class stays small.
"""

from __future__ import annotations

import argparse
import inspect
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from gristmill.errors import UsageError
from gristmill.runtime import context

if TYPE_CHECKING:
    from gristmill.runtime.result import JobResult

PHASES = (
    "mapper",
    "mapper_init",
    "mapper_final",
    "combiner",
    "combiner_init",
    "combiner_final",
    "reducer",
    "reducer_init",
    "reducer_final",
)

Pairs = Iterable[tuple[Any, Any]] | None


@dataclass(frozen=True)
class Step:
    """One map (+ combine) (+ reduce) round; keyword names match the job's methods.

    >>> Step(mapper=lambda _, line: [(line, 1)]).reducer is None
    True
    """

    mapper: Callable[[Any, Any], Pairs] | None = None
    mapper_init: Callable[[], Pairs] | None = None
    mapper_final: Callable[[], Pairs] | None = None
    combiner: Callable[[Any, Any], Pairs] | None = None
    combiner_init: Callable[[], Pairs] | None = None
    combiner_final: Callable[[], Pairs] | None = None
    reducer: Callable[[Any, Any], Pairs] | None = None
    reducer_init: Callable[[], Pairs] | None = None
    reducer_final: Callable[[], Pairs] | None = None


assert tuple(f.name for f in fields(Step)) == PHASES


class MapReduceJob:
    """Subclass and define any of `mapper`, `combiner`, `reducer` (generators of pairs).

    Secondary sort: set ``SORT_VALUES = True``, or define ``value_sort_key(self, value)``.

    >>> class Count(MapReduceJob):
    ...     def mapper(self, _, line):
    ...         for word in line.split():
    ...             yield word, 1
    ...     def reducer(self, word, counts):
    ...         yield word, sum(counts)
    >>> Count([]).run_local(["a b a"])
    [('a', 2), ('b', 1)]
    """

    SORT_VALUES = False  # True: reducers see each key's values sorted (secondary sort)
    OUTPUT_FORMAT = "text"  # "text": key<TAB>value (see api.mr_protocol); "json": [key, value]

    FILES: Sequence[str] = ()  # shipped into each task's working directory (paths: see below)

    def __init__(self, args: Sequence[str] | None = None) -> None:
        """`args`: the script's command line (inputs, -o, engine flags and the job's options).

        One parser holds them all, as in mrjob, so a job option's value is never taken for an
        input (``--min-length 3 data/``, or no input at all: stdin).
        """
        from gristmill.api.mr_cli import command_line  # mr_cli imports this module

        self._parser = argparse.ArgumentParser(parents=[command_line()])
        self._file_options: list[str] = []
        self.configure_args()
        self.options = self._parser.parse_args(list(args or []))
        self.files = self._ship_files()

    def _ship_files(self) -> tuple[str, ...]:
        """Absolute paths of FILES (relative to the job's source file) and file options.

        File options are rewritten to the base name, which is where tasks find them.
        """
        base = os.path.dirname(os.path.abspath(inspect.getfile(type(self))))
        paths = [os.path.join(base, name) for name in self.FILES]
        for dest in self._file_options:
            value = getattr(self.options, dest)
            if value is not None:
                paths.append(os.path.abspath(value))
                setattr(self.options, dest, os.path.basename(value))
        for path in paths:
            if not os.path.isfile(path):
                raise UsageError(f"{type(self).__name__}: file to ship does not exist: {path}")
        return tuple(paths)

    def configure_args(self) -> None:
        """Override to declare the job's own options with `add_passthru_arg`.

        >>> class Grep(MapReduceJob):
        ...     def configure_args(self):
        ...         self.add_passthru_arg("--word", default="a")
        ...     def mapper(self, _, line):
        ...         if self.options.word in line.split():
        ...             yield line, 1
        >>> Grep(["--word", "b"]).run_local(["a b", "c"])
        [('a b', 1)]
        """

    def add_passthru_arg(self, *args: Any, **kwargs: Any) -> None:
        """Declare an option (argparse arguments); read it as ``self.options.NAME``.

        >>> class Job(MapReduceJob):
        ...     def configure_args(self):
        ...         self.add_passthru_arg("--min-length", type=int, default=3)
        >>> Job(["--min-length", "5"]).options.min_length
        5
        """
        self._declare(*args, **kwargs)

    def add_file_arg(self, *args: Any, **kwargs: Any) -> None:
        """Declare an option naming a file that every task can open by its base name.

        >>> import os, tempfile
        >>> stop = os.path.join(tempfile.mkdtemp(), "stop.txt")
        >>> with open(stop, "w") as f:
        ...     _ = f.write("the\\n")
        >>> class NoStop(MapReduceJob):
        ...     def configure_args(self):
        ...         self.add_file_arg("--stop")
        >>> NoStop(["--stop", stop]).options.stop  # tasks open it in their working directory
        'stop.txt'
        """
        self._file_options.append(self._declare(*args, **kwargs).dest)

    def _declare(self, *args: Any, **kwargs: Any) -> argparse.Action:
        """Add a job option; one named like an engine flag (``--output``, ``--workers``) is a
        usage error: the engine reads those itself, so sharing one would be silently wrong."""
        try:
            return self._parser.add_argument(*args, **kwargs)
        except argparse.ArgumentError as exc:
            raise UsageError(
                f"{type(self).__name__}: job option {exc.argument_name or args} is one of "
                f"gristmill's own flags ({exc.message}); give the job's option another name"
            ) from None

    def increment_counter(self, group: str, name: str, amount: int = 1) -> None:
        """Count something; only committed task attempts count, and the job prints the total.

        >>> import os, tempfile
        >>> d = tempfile.mkdtemp()
        >>> with open(os.path.join(d, "in.txt"), "w") as f:
        ...     _ = f.write("x\\ny\\n")
        >>> class Lines(MapReduceJob):
        ...     def mapper(self, _, line):
        ...         self.increment_counter("lines", "seen")
        ...         yield line, 1
        >>> args = [os.path.join(d, "in.txt"), "-o", os.path.join(d, "out"), "--executor", "inline"]
        >>> Lines(args).run().counters["user.lines.seen"]
        2
        """
        context.increment(group, name, amount)

    def steps(self) -> list[Step]:
        """The job's rounds; by default one step from the phase methods the class defines.

        >>> class Longest(MapReduceJob):
        ...     def steps(self):
        ...         return [Step(mapper=self.lengths), Step(mapper=self.one_key, reducer=self.most)]
        ...     def lengths(self, _, line):
        ...         yield line, len(line)
        ...     def one_key(self, line, n):
        ...         yield None, (n, line)
        ...     def most(self, _, pairs):
        ...         yield max(pairs)
        >>> Longest([]).run_local(["ab", "abc", "a"])
        [(3, 'abc')]
        """
        found = {name: getattr(self, name) for name in PHASES if hasattr(self, name)}
        return [Step(**found)]

    def run_local(self, lines: Iterable[str], *, partitions: int = 2) -> list[Any]:
        """Run in this process over in-memory lines and return the output pairs (for tests).

        >>> class Pairs(MapReduceJob):
        ...     def mapper(self, _, line):
        ...         yield line, len(line)
        >>> Pairs([]).run_local(["ab", "c"])  # map-only: no reducer
        [('ab', 2), ('c', 1)]
        """
        from gristmill.api.mr_compile import compile_job
        from gristmill.api.sources import from_items
        from gristmill.config import Config

        source = from_items(list(lines), partitions=partitions)
        config = Config(executor="inline", progress=False)
        return compile_job(self, source).collect(config=config)

    def run(self) -> JobResult:
        """Run as the command line given to the constructor says (inputs, ``-o``, engine
        flags) and return the `JobResult`; its ``counters`` hold ``user.GROUP.NAME``. Errors
        raise (`main` turns them into exit codes). Without ``-o`` the output goes to stdout.

        >>> import os, tempfile
        >>> d = tempfile.mkdtemp()
        >>> with open(os.path.join(d, "in.txt"), "w") as f:
        ...     _ = f.write("a b a\\n")
        >>> class Words(MapReduceJob):
        ...     def mapper(self, _, line):
        ...         for word in line.split():
        ...             self.increment_counter("words", "seen")
        ...             yield word, 1
        ...     def reducer(self, word, counts):
        ...         yield word, sum(counts)
        >>> out = os.path.join(d, "out")
        >>> result = Words([os.path.join(d, "in.txt"), "-o", out, "--executor", "inline"]).run()
        >>> result.counters["user.words.seen"]
        3
        """
        from gristmill.api.mr_cli import run_job

        return run_job(self)

    @classmethod
    def main(cls, argv: Sequence[str] | None = None) -> None:
        """Command line: ``python job.py INPUT... -o OUTPUT [--workers N] [job options]``."""
        from gristmill.api.mr_cli import run_main

        run_main(cls, argv)
