"""Execution settings: one frozen `Config`, built at the edge (CLI flags, environment, or code).

The job's code never changes to pick an executor; the same pipeline runs on whatever `Config`
the caller resolves. Imports nothing from the engine.
"""

from __future__ import annotations

import contextlib
import dataclasses
import operator
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from gristmill.errors import UsageError

EXECUTORS = ("inline", "local")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str | int) -> int:
    """Parse a byte size such as ``512MB``, ``2g`` or ``1048576`` (binary units).

    >>> parse_size("512MB")
    536870912
    >>> parse_size("1.5k")
    1536
    """
    if isinstance(text, int):
        return text
    match = _SIZE.match(text)
    if not match:
        raise UsageError(f"not a size: {text!r} (try 512MB, 2GB)")
    unit = (match.group(2) or "").lower().rstrip("b").rstrip("i")
    return int(float(match.group(1)) * _UNITS[unit])


def _default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass(frozen=True)
class Config:
    """How a job runs. Build with `Config.resolve(...)` to honour `GRISTMILL_*` variables.

    >>> Config(executor="inline", workers=1).workers
    1
    """

    executor: str = "local"
    workers: int = field(default_factory=_default_workers)
    memory: int = 512 * 1024**2  # per-worker budget in bytes; buffers spill beyond a share of it
    max_attempts: int = 4
    scratch_dir: str = field(default_factory=tempfile.gettempdir)
    # Input byte range per map task; None sizes splits from the input (never from workers).
    split_size: int | None = None
    partitions: int | None = None  # default shuffle partitions; None: the upstream task count
    progress: bool | None = None  # None: bars on a terminal, log lines otherwise
    task_timeout: float | None = None  # seconds; a longer attempt is killed and retried (local)
    skip_bad_records: bool = False  # skip (and quarantine) bad records instead of failing
    max_bad_records: float | None = None  # skip budget: a count (>= 1) or a fraction (< 1)
    skip_corrupt_files: bool = False  # a corrupt compressed file is skipped whole, and counted
    resume: bool = False  # reuse the committed tasks of a killed earlier run of the same job
    # lz4 for the binary-record sort's runs too: 2.4x less scratch for TeraSort data, more CPU
    compress_sort_runs: bool = False
    # A join whose right side's inputs are at most this many bytes broadcasts it (when an
    # aggregation follows the join through record-wise ops); 0 turns that off. Spark's
    # autoBroadcastJoinThreshold.
    broadcast_threshold: int = 10 * 1024**2

    def __post_init__(self) -> None:
        # Config(memory="512MB") reads as the flag does.
        for size in ("memory", "split_size", "broadcast_threshold"):
            if isinstance(getattr(self, size), str):
                object.__setattr__(self, size, parse_size(getattr(self, size)))
        for name in ("workers", "memory", "max_attempts", "split_size", "partitions"):
            value = getattr(self, name)  # an int; a str "2" would fail later, far from here
            if value is not None:
                object.__setattr__(self, name, as_int(value, name))
        if self.split_size == 0:  # 0, as the flag and the variable take it: sized by input
            object.__setattr__(self, "split_size", None)
        if self.split_size is not None and self.split_size < 0:
            # A negative split would read nothing (None sizes splits by input).
            raise UsageError(f"split_size must be at least 1 byte, got {self.split_size}")
        if self.executor not in EXECUTORS:
            raise UsageError(f"unknown executor {self.executor!r}; choose one of {EXECUTORS}")
        if self.workers < 1:
            raise UsageError(f"workers must be at least 1, got {self.workers}")
        if self.memory < 1024**2:
            raise UsageError(f"memory budget too small: {self.memory} bytes (minimum 1MB)")
        if self.task_timeout is not None and self.task_timeout <= 0:
            raise UsageError(f"task_timeout must be positive, got {self.task_timeout}")
        if self.partitions is not None and self.partitions < 1:
            raise UsageError(f"partitions must be at least 1, got {self.partitions}")
        if self.max_bad_records is not None and self.max_bad_records < 0:
            raise UsageError(f"max_bad_records must be >= 0, got {self.max_bad_records}")
        if self.broadcast_threshold < 0:
            raise UsageError(f"broadcast_threshold must be >= 0, got {self.broadcast_threshold}")
        if self.max_attempts < 1:
            raise UsageError("max_attempts must be at least 1")

    @classmethod
    def resolve(cls, **overrides: object) -> Config:
        """Defaults (or the config the CLI installed), `GRISTMILL_*` variables, then `overrides`.

        The CLI resolves environment and flags once and installs the result with `use_config`;
        inside that block the environment is not consulted again, so flags keep precedence.

        >>> Config.resolve(executor="inline").executor
        'inline'
        """
        values: dict[str, object] = {}
        env = {} if _active else os.environ
        if "GRISTMILL_EXECUTOR" in env:
            values["executor"] = env["GRISTMILL_EXECUTOR"]
        if "GRISTMILL_WORKERS" in env:
            values["workers"] = _parse_number("GRISTMILL_WORKERS", env["GRISTMILL_WORKERS"], int)
        if "GRISTMILL_MEMORY" in env:
            values["memory"] = _parse_env_size(env, "GRISTMILL_MEMORY")
        if "GRISTMILL_TASK_TIMEOUT" in env:
            values["task_timeout"] = _parse_number(
                "GRISTMILL_TASK_TIMEOUT", env["GRISTMILL_TASK_TIMEOUT"], float
            )
        if _yes(env.get("GRISTMILL_SKIP_BAD_RECORDS")):
            values["skip_bad_records"] = True
        if "GRISTMILL_MAX_BAD_RECORDS" in env:
            values["max_bad_records"] = _parse_number(
                "GRISTMILL_MAX_BAD_RECORDS", env["GRISTMILL_MAX_BAD_RECORDS"], float
            )
        if _yes(env.get("GRISTMILL_RESUME")):
            values["resume"] = True
        if _yes(env.get("GRISTMILL_COMPRESS_SORT_RUNS")):
            values["compress_sort_runs"] = True
        if "GRISTMILL_SPLIT_SIZE" in env:
            values["split_size"] = _parse_env_size(env, "GRISTMILL_SPLIT_SIZE")
        if "GRISTMILL_BROADCAST_THRESHOLD" in env:
            values["broadcast_threshold"] = _parse_env_size(env, "GRISTMILL_BROADCAST_THRESHOLD")
        if "GRISTMILL_SCRATCH" in env:
            values["scratch_dir"] = env["GRISTMILL_SCRATCH"]
        base = _active[-1] if _active else cls()
        merged = {k: v for k, v in overrides.items() if v is not None}
        # Sizes given as text ("512MB") are parsed by __post_init__, as for Config(...).
        return dataclasses.replace(base, **{**values, **merged})  # type: ignore[arg-type]


def as_int(value: object, name: str) -> int:
    """`value` as a plain int if it is an integer (numpy's included), else a usage error.

    >>> as_int(3, "workers"), type(as_int(__import__("numpy").int64(3), "workers"))
    (3, <class 'int'>)
    """
    if not isinstance(value, bool):
        try:
            return operator.index(value)  # type: ignore[arg-type]
        except TypeError:
            pass
    raise UsageError(f"{name} must be an int, got {value!r}")


def _yes(text: str | None) -> bool:
    """A switch variable: set and not one of the usual ways of saying no."""
    return (text or "").strip().lower() not in ("", "0", "false", "no", "off")


def _parse_env_size(env: Mapping[str, str], name: str) -> int:
    try:
        return parse_size(env[name])
    except UsageError as exc:
        raise UsageError(f"{name}: {exc}") from None


def _parse_number(name: str, text: str, kind: type[int] | type[float]) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise UsageError(f"{name} must be a number ({kind.__name__}), got {text!r}") from None


# The CLI's `run` command resolves a Config from its flags and makes it the base for actions in
# the user's script; a stack (not a bare global) so nested use restores the previous one.
_active: list[Config] = []


@contextlib.contextmanager
def use_config(config: Config) -> Iterator[Config]:
    """Make `config` the base that actions resolve against while the block runs.

    >>> with use_config(Config(executor="inline")):
    ...     Config.resolve().executor
    'inline'
    """
    _active.append(config)
    try:
        yield config
    finally:
        _active.pop()
