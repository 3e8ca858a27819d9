"""`JobResult`: what a finished job reports back (output files, counters, timings)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class StageSummary:
    stage_id: int
    tasks: int
    seconds: float
    counters: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class JobResult:
    """Returned by write actions; `counters` sum committed task attempts only.

    >>> JobResult("j1", None, (), {"input.records": 3}, (), 0.5).summary()
    'job j1 ok in 0.50s: input.records=3'
    """

    job_id: str
    output_path: str | None
    output_paths: tuple[str, ...]
    counters: dict[str, int]
    stages: tuple[StageSummary, ...]
    seconds: float

    def summary(self) -> str:
        """One line: job id, time and counters."""
        shown = " ".join(f"{k}={v}" for k, v in sorted(self.counters.items()))
        return f"job {self.job_id} ok in {self.seconds:.2f}s: {shown}"
