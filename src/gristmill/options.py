"""The engine flags every job-running command accepts, declared once.

The `gristmill` CLI (click) and MapReduceJob scripts (argparse) both build their flags from
this table and turn parsed values into a `Config` the same way, so the two never drift.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gristmill.config import EXECUTORS, Config


@dataclass(frozen=True)
class EngineOption:
    """One flag: ``--name`` sets Config field `field` (a switch when `kind` is bool)."""

    name: str
    kind: type
    help: str
    choices: tuple[str, ...] = ()
    toggle: bool = False  # --name/--no-name rather than a plain switch

    @property
    def field(self) -> str:
        return self.name.replace("-", "_")


ENGINE_OPTIONS = (
    EngineOption("executor", str, "inline or local.", choices=EXECUTORS),
    EngineOption("workers", int, "Worker processes."),
    EngineOption("memory", str, "Per-worker memory budget, e.g. 512MB."),
    EngineOption("scratch-dir", str, "Spill directory."),
    EngineOption("partitions", int, "Default shuffle width."),
    EngineOption("split-size", str, "Input split size, e.g. 64MB (default: 16-128MB by input)."),
    EngineOption("progress", bool, "Progress bars (default: on a terminal).", toggle=True),
    EngineOption("task-timeout", float, "Seconds an attempt may run before it is retried."),
    EngineOption("skip-bad-records", bool, "Skip bad records into OUTPUT/_quarantine/."),
    EngineOption("max-bad-records", float, "Skip budget: a count, or a fraction if below 1."),
    EngineOption("skip-corrupt-files", bool, "Skip corrupt compressed files whole (counted)."),
    EngineOption("resume", bool, "Reuse committed tasks of a killed run of the same job."),
    EngineOption(
        "broadcast-threshold",
        str,
        "Broadcast a join's right side up to this size, e.g. 10MB (0: never on its own).",
    ),
    EngineOption(
        "compress-sort-runs",
        bool,
        "lz4 for binary-record sort runs: less scratch, more CPU.",
        toggle=True,
    ),
)


def config_from(values: Mapping[str, Any]) -> Config:
    """A Config from parsed flag values (None: fall back to GRISTMILL_* and defaults)."""
    return Config.resolve(**{opt.field: values.get(opt.field) for opt in ENGINE_OPTIONS})


def add_to_argparse(parser: argparse.ArgumentParser) -> None:
    """Declare the engine flags on an argparse parser."""
    for opt in ENGINE_OPTIONS:
        flag = f"--{opt.name}"
        if opt.toggle:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, help=opt.help)
        elif opt.kind is bool:
            parser.add_argument(flag, action="store_true", default=None, help=opt.help)
        else:
            parser.add_argument(flag, type=opt.kind, choices=opt.choices or None, help=opt.help)
