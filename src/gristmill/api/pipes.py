"""Run an external command over a stream of lines: the engine of Hadoop Streaming tasks.

Lines go to the command's stdin from a feeder thread while its stdout is read here, so neither
side is ever buffered whole. A non-zero exit fails the task attempt with the tail of the
command's stderr; ``reporter:counter:GROUP,NAME,AMOUNT`` lines on stderr become counters.
"""

from __future__ import annotations

import collections
import contextlib
import os
import shlex
import subprocess
import threading
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

from gristmill.runtime import context

STDERR_TAIL = 20
COUNTER_PREFIX = "reporter:counter:"


class CommandFailedError(RuntimeError):
    """A streaming command exited non-zero; the message carries its stderr tail."""


@dataclass(frozen=True)
class Command:
    """A command line (split like a shell would, but never run through a shell)."""

    line: str
    env: tuple[tuple[str, str], ...] = ()
    cwd: str | None = None
    files: tuple[str, ...] = field(default=())

    def argv(self) -> list[str]:
        return shlex.split(self.line)


def _feed(lines: Iterable[str], stdin: IO[bytes], errors: list[BaseException]) -> None:
    try:
        for line in lines:
            stdin.write(line.encode("utf-8", "surrogateescape") + b"\n")
    except BrokenPipeError:
        pass  # the command stopped reading (e.g. `head`): its exit code decides
    except BaseException as exc:  # an upstream failure must fail the task, not vanish
        errors.append(exc)
    finally:
        with contextlib.suppress(BrokenPipeError):
            stdin.close()


def _drain_stderr(stderr: IO[bytes], tail: collections.deque[str]) -> None:
    for raw in stderr:
        line = raw.decode("utf-8", "replace").rstrip("\n")
        if line.startswith(COUNTER_PREFIX):
            parts = line[len(COUNTER_PREFIX) :].split(",")
            if len(parts) == 3 and parts[2].strip().lstrip("-").isdigit():
                context.increment(parts[0], parts[1], int(parts[2]))
                continue
        tail.append(line)


def make_workdir(files: Iterable[str]) -> str:
    """A fresh per-task directory holding links to the shipped files, by base name."""
    import tempfile

    workdir = tempfile.mkdtemp(prefix="gristmill-task-")
    for path in files:
        os.symlink(os.path.abspath(path), os.path.join(workdir, os.path.basename(path)))
    return workdir


@contextlib.contextmanager
def files_in_cwd(files: tuple[str, ...]) -> Iterator[None]:
    """Run a task inside a working directory where the shipped files are (mrjob's FILES)."""
    if not files:
        yield
        return
    import shutil

    workdir = make_workdir(files)
    previous = os.getcwd()
    os.chdir(workdir)
    try:
        yield
    finally:
        os.chdir(previous)
        shutil.rmtree(workdir, ignore_errors=True)


def _workdir(command: Command) -> str | None:
    """Hadoop's -file: the command runs where the shipped files are."""
    return make_workdir(command.files) if command.files else command.cwd


def _shipped_program(argv: list[str], workdir: str, files: tuple[str, ...]) -> list[str]:
    """Hadoop's ``-mapper mapper.py -file mapper.py``: a program named by a shipped file's base
    name runs from the task's working directory (found before ``PATH``, as Hadoop does), made
    executable there as Hadoop makes it (a copy: the user's own file keeps its mode)."""
    if not argv or "/" in argv[0] or argv[0] not in {os.path.basename(f) for f in files}:
        return argv
    program = os.path.join(workdir, argv[0])
    if not os.access(program, os.X_OK):
        import shutil

        target = os.path.realpath(program)
        os.unlink(program)
        shutil.copyfile(target, program)
        os.chmod(program, 0o755)
    return [program, *argv[1:]]


def pipe_lines(command: Command, lines: Iterable[str]) -> Generator[str, None, None]:
    """Stream `lines` through `command`, yielding its output lines (without newlines)."""
    workdir = _workdir(command)
    env = {**os.environ, **dict(command.env)}
    argv = command.argv()
    if workdir is not None and command.files:
        argv = _shipped_program(argv, workdir, command.files)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=workdir,
        )
    except OSError as exc:
        raise CommandFailedError(f"cannot start {command.line!r}: {exc}") from exc
    assert proc.stdin and proc.stdout and proc.stderr
    errors: list[BaseException] = []
    tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)
    feeder = threading.Thread(target=_feed, args=(lines, proc.stdin, errors), daemon=True)
    reader = threading.Thread(target=_drain_stderr, args=(proc.stderr, tail), daemon=True)
    feeder.start()
    reader.start()
    finished = False
    try:
        for raw in proc.stdout:
            yield raw.decode("utf-8", "surrogateescape").rstrip("\n").rstrip("\r")
        finished = True
    finally:
        if not finished:
            # Abandoned (the task failed downstream, or stopped reading): nobody wants the rest
            # of its output, and a command that neither reads nor writes would be waited for
            # forever.
            proc.kill()
        proc.stdout.close()
        feeder.join()
        code = proc.wait()
        reader.join()
        if workdir is not None and workdir != command.cwd:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    if errors:
        raise errors[0]
    if code != 0:
        stderr = "\n".join(tail)
        raise CommandFailedError(
            f"command {command.line!r} exited with code {code}; stderr tail:\n{stderr}"
        )
