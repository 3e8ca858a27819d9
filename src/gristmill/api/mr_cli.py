"""Command line of a MapReduceJob script: ``python job.py INPUT... -o OUTPUT [options]``.

The inputs, -o and engine options (--executor, --workers, --memory, ...) are declared here; the
job parses them with its own `configure_args` options in one parser, so they mix in any order.
Errors map to exit codes as in the `gristmill` CLI.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence

from gristmill.api.mapreduce import MapReduceJob
from gristmill.api.mr_compile import compile_job
from gristmill.api.mr_protocol import encode_line, json_pair
from gristmill.api.sources import read_text
from gristmill.cancel import sigterm_cancels
from gristmill.config import Config
from gristmill.errors import GristmillError, UsageError
from gristmill.io.scratch import Scratch
from gristmill.options import add_to_argparse, config_from
from gristmill.runtime.result import JobResult


def command_line() -> argparse.ArgumentParser:
    """The flags every job script takes; a parent of each job's own parser (no -h of its own)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("inputs", nargs="*", help="input files, directories or globs (- = stdin)")
    parser.add_argument("-o", "--output", help="output directory (default: stdout)")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--output-format", choices=("text", "json"), help="default: text")
    add_to_argparse(parser)
    return parser


def run_main(cls: type[MapReduceJob], argv: Sequence[str] | None = None) -> None:
    """Parse, run, print counters; exit 0 ok, 1 job failed, 2 usage error, 130 cancelled."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        job = cls(args)
        result = run_job(job)
    except SystemExit:
        raise
    except UsageError as exc:
        print(f"{cls.__name__}: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except GristmillError as exc:
        print(f"{cls.__name__}: job failed: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print(f"{cls.__name__}: cancelled", file=sys.stderr)
        sys.exit(130)
    user = {k: v for k, v in result.counters.items() if k.startswith("user.")}
    for name, value in sorted(user.items()):
        print(f"counter {name[len('user.') :]} = {value}", file=sys.stderr)
    if job.options.output:
        print(f"output: {result.output_path}", file=sys.stderr)


def run_job(job: MapReduceJob) -> JobResult:
    """Run `job` as its command line says; errors raise (`run_main` maps them to exit codes)."""
    engine = job.options
    config = config_from(vars(engine))
    with sigterm_cancels(), Scratch("gristmill-io-", config.scratch_dir) as tmp:
        return _run(job, engine, config, tmp.path)


def _run(job: MapReduceJob, engine: argparse.Namespace, config: Config, tmp: str) -> JobResult:
    """Run with files or stdin in, a directory or stdout out (both streamed through `tmp`)."""
    inputs = list(engine.inputs) or ["-"]
    if "-" in inputs:
        stdin_copy = os.path.join(tmp, "stdin.txt")
        with open(stdin_copy, "wb") as f:
            shutil.copyfileobj(sys.stdin.buffer, f)
        inputs = [stdin_copy if path == "-" else path for path in inputs]
    output = engine.output or os.path.join(tmp, "out")
    pairs = compile_job(job, read_text(inputs))
    if (engine.output_format or job.OUTPUT_FORMAT) == "json":
        result = pairs.map(json_pair).write_jsonl(output, overwrite=engine.overwrite, config=config)
    else:
        result = pairs.map(encode_line).write_text(
            output, overwrite=engine.overwrite, config=config
        )
    if not engine.output:
        sys.stdout.flush()
        for part in result.output_paths:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, sys.stdout.buffer)
        sys.stdout.flush()
    return result
