"""Typed errors raised by gristmill.

Every error a user can hit is a subclass of `GristmillError`, so callers (and the CLI, which maps
them to exit codes) can tell a job failure from a usage mistake. Imports nothing from gristmill.
"""

from __future__ import annotations


class GristmillError(Exception):
    """Base class of every error gristmill raises on purpose.

    >>> import gristmill as gm
    >>> try:
    ...     gm.Config(workers=0)
    ... except gm.GristmillError as exc:
    ...     print(type(exc).__name__, exc)
    UsageError workers must be at least 1, got 0
    """


class UsageError(GristmillError):
    """The job was asked for something invalid (bad option, bad argument); nothing ran."""


class InputNotFoundError(UsageError):
    """An input path or directory does not exist (a glob may match nothing: empty input)."""


class OutputExistsError(UsageError):
    """The destination already holds output and `overwrite` was not given."""


class InputFormatError(GristmillError):
    """A record could not be decoded: names the file, line and byte offset."""


class JobFailedError(GristmillError):
    """A task failed for good after all its attempts; the message names task, input and cause.

    `user_traceback` holds the traceback from the worker, `task` the task id and `location` the
    input file and line/byte offset (or shuffle key) of the record being processed.
    """

    def __init__(
        self, message: str, *, task: str = "", location: str = "", user_traceback: str = ""
    ) -> None:
        super().__init__(message)
        self.task = task
        self.location = location
        self.user_traceback = user_traceback


class DiskFullError(JobFailedError):
    """A scratch (spill) or output staging directory ran out of space; the message names it."""
