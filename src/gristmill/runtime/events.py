"""Typed events the scheduler emits; progress bars, history and metrics subscribe to them.

Listeners are plain callables; an event is a frozen dataclass, never a positional tuple.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class JobStarted:
    job_id: str
    stages: tuple[tuple[int, int], ...]  # (stage id, task count)


@dataclass(frozen=True)
class StageStarted:
    job_id: str
    stage_id: int
    tasks: int


@dataclass(frozen=True)
class TaskFinished:
    job_id: str
    stage_id: int
    index: int
    attempt: int
    seconds: float
    counters: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskFailed:
    job_id: str
    stage_id: int
    index: int
    attempt: int
    error: str
    will_retry: bool


@dataclass(frozen=True)
class StageFinished:
    job_id: str
    stage_id: int
    seconds: float
    counters: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class JobFinished:
    job_id: str
    ok: bool
    seconds: float
    counters: dict[str, int] = field(default_factory=dict)
    error: str = ""


Event = JobStarted | StageStarted | TaskFinished | TaskFailed | StageFinished | JobFinished
Listener = Callable[[Event], None]
