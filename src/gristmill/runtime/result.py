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
        """One line: job id, time and counters.

        >>> import gristmill as gm
        >>> result = gm.from_items([1, 2]).write_text(
        ...     __import__("tempfile").mkdtemp() + "/out",
        ...     config=gm.Config(executor="inline", progress=False))
        >>> result.summary().startswith("job ") and " ok in " in result.summary()
        True
        """
        return format_summary(self.job_id, self.seconds, self.counters, ok=True)


def format_summary(
    job_id: str, seconds: float, counters: dict[str, int], *, ok: bool, error: str = ""
) -> str:
    """``job ID ok in 1.23s: name=value ...`` or ``job ID failed after 1.23s: ERROR``.

    >>> format_summary("j1", 2.0, {}, ok=False, error="cancelled")
    'job j1 failed after 2.00s: cancelled'
    """
    if not ok:  # judged on the flag: a cancel's KeyboardInterrupt has no message at all
        return f"job {job_id} failed after {seconds:.2f}s: {error or 'no error message'}"
    shown = " ".join(f"{k}={v}" for k, v in sorted(counters.items()))
    return f"job {job_id} ok in {seconds:.2f}s: {shown}"
