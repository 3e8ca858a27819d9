"""The `gristmill` command line: run scripts, built-in examples, and (later) services.

Builds one `Config` from flags and environment and hands it down; maps errors to exit codes
(0 ok, 1 job failed, 2 usage error, 130 cancelled) with a message, never a usage traceback.
"""

from __future__ import annotations

import functools
import os
import runpy
import shutil
import sys
import traceback
import zipfile
from collections.abc import Callable
from typing import Any, TypeVar

import click

from gristmill.cancel import sigterm_cancels
from gristmill.config import Config, use_config
from gristmill.errors import GristmillError, JobFailedError, UsageError
from gristmill.options import ENGINE_OPTIONS, config_from

F = TypeVar("F", bound=Callable[..., Any])


def engine_options(fn: F) -> F:
    """Flags every job-running command takes; unset ones fall back to GRISTMILL_* variables."""
    for opt in reversed(ENGINE_OPTIONS):
        if opt.toggle:
            option = click.option(f"--{opt.name}/--no-{opt.name}", default=None, help=opt.help)
        elif opt.kind is bool:
            option = click.option(f"--{opt.name}", is_flag=True, default=None, help=opt.help)
        else:
            kind: Any = click.Choice(opt.choices) if opt.choices else opt.kind
            option = click.option(f"--{opt.name}", type=kind, help=opt.help)
        fn = option(fn)
    return fn


def build_config(opts: dict[str, Any]) -> Config:
    """The Config for a command's parsed engine flags."""
    return config_from(opts)


def reporting(fn: F) -> F:
    """Turn gristmill errors into messages and exit codes."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with sigterm_cancels():
                return fn(*args, **kwargs)
        except UsageError as exc:
            click.echo(f"gristmill: error: {exc}", err=True)
            sys.exit(2)
        except JobFailedError as exc:
            click.echo(f"gristmill: job failed: {exc}", err=True)
            sys.exit(1)
        except GristmillError as exc:
            click.echo(f"gristmill: job failed: {exc}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("gristmill: cancelled", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gristmill")
def cli() -> None:
    """Batch processing for Python: MapReduce and Spark-style jobs on a laptop or a cluster."""


@cli.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@engine_options
@click.argument("script", type=click.Path(dir_okay=False))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@reporting
def run(script: str, args: tuple[str, ...], **opts: Any) -> None:
    """Run SCRIPT (a Python file building a Dataset pipeline) with ARGS as its sys.argv[1:]."""
    if script.startswith("-") and not os.path.isfile(script):
        raise UsageError(f"no such option: {script} (options go before the script)")
    if not os.path.isfile(script):
        raise UsageError(f"no such script: {script}")
    if not zipfile.is_zipfile(script):  # a zipapp runs as runpy finds it
        with open(script, "rb") as f:
            source = f.read()
        try:
            compile(source, script, "exec")
        except (SyntaxError, ValueError) as exc:  # the script's own mistake: one line
            lineno = getattr(exc, "lineno", None)
            line = f", line {lineno}" if lineno else ""
            raise UsageError(f"{script}{line}: {getattr(exc, 'msg', exc)}") from None
    config = build_config(opts)
    saved = sys.argv[:]
    sys.argv = [script, *args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    try:
        with use_config(config):
            runpy.run_path(script, run_name="__main__")
    except (GristmillError, KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:
        # As `python SCRIPT` would show it: from the script's own frames, not click's.
        tb = exc.__traceback__
        target = os.path.abspath(script)
        while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) != target:
            tb = tb.tb_next
        traceback.print_exception(type(exc), exc, tb or exc.__traceback__)
        sys.exit(1)
    finally:
        sys.argv = saved
        sys.path.pop(0)


@cli.group()
def example() -> None:
    """Built-in example jobs."""


def _finish(result: Any) -> None:
    # The progress listener already printed the summary on stderr; stdout gets the result.
    click.echo(f"output: {result.output_path}")
    for path in result.output_paths:
        click.echo(f"  {path}")


@example.command()
@engine_options
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", required=True, help="Output directory.")
@click.option("--overwrite", is_flag=True, help="Replace existing output at commit.")
@click.option(
    "--form",
    type=click.Choice(["count_by_value", "columnar", "chain", "mapreduce"]),
    default="count_by_value",
    show_default=True,
    help="API form: count_by_value, pyarrow batches (fastest on large input), the "
    "flat_map/map/reduce_by_key chain, or a MapReduceJob (mapper, combiner, reducer).",
)
@reporting
def wordcount(
    inputs: tuple[str, ...], output: str, overwrite: bool, form: str, **opts: Any
) -> None:
    """Count whitespace-separated words: writes word<TAB>count lines."""
    from gristmill.examples.jobs import wordcount as job

    config = build_config(opts)
    _finish(job(inputs, form).write_text(output, overwrite=overwrite, config=config))


@example.command()
@engine_options
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", required=True, help="Output directory.")
@click.option("--pattern", required=True, help="Regular expression to search lines for.")
@click.option("--overwrite", is_flag=True, help="Replace existing output at commit.")
@click.option(
    "--form",
    type=click.Choice(["records", "columnar"]),
    default="records",
    show_default=True,
    help="records: Python's re on each line; columnar: pyarrow batches and RE2 (faster; no "
    "backreferences or lookaround, and \\d \\w \\s match ASCII only).",
)
@reporting
def grep(
    inputs: tuple[str, ...], output: str, pattern: str, overwrite: bool, form: str, **opts: Any
) -> None:
    """Write the lines matching --pattern, in input order."""
    from gristmill.examples.jobs import grep as job

    config = build_config(opts)
    _finish(job(inputs, pattern, form).write_text(output, overwrite=overwrite, config=config))


@example.command()
@engine_options
@click.argument("rows", type=click.IntRange(min=0))
@click.option("-o", "--output", required=True, help="Output directory of 100-byte records.")
@click.option("--seed", type=int, default=0, show_default=True, help="Key generator seed.")
@click.option("--overwrite", is_flag=True, help="Replace existing output at commit.")
@reporting
def teragen(rows: int, output: str, seed: int, overwrite: bool, **opts: Any) -> None:
    """Generate ROWS sort benchmark records (gensort's binary layout)."""
    from gristmill.examples.terasort import teragen as job

    config = build_config(opts)
    _finish(job(rows, seed).write_binary_records(output, overwrite=overwrite, config=config))


@example.command()
@engine_options
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", required=True, help="Output directory of sorted part files.")
@click.option("--overwrite", is_flag=True, help="Replace existing output at commit.")
@reporting
def terasort(inputs: tuple[str, ...], output: str, overwrite: bool, **opts: Any) -> None:
    """Sort 100-byte records by their 10-byte keys into part-NNNNN files."""
    from gristmill.examples.terasort import partitions_for
    from gristmill.examples.terasort import terasort as job

    config = build_config(opts)
    partitions = config.partitions or partitions_for(inputs, config)
    sorted_records = job(inputs, partitions)
    _finish(sorted_records.write_binary_records(output, overwrite=overwrite, config=config))


@example.command()
@engine_options
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", required=True, help="Report directory.")
@click.option("--overwrite", is_flag=True, help="Replace existing output at commit.")
@reporting
def teravalidate(inputs: tuple[str, ...], output: str, overwrite: bool, **opts: Any) -> None:
    """Check that INPUTS, read in name order, are sorted; print a checksum of the records.

    Exits 1 when any record is out of order.
    """
    from gristmill.examples.terasort import read_report
    from gristmill.examples.terasort import teravalidate as job

    config = build_config(opts)
    job(inputs).write_text(output, overwrite=overwrite, config=config)
    report = read_report(output)
    for name, value in report.items():
        click.echo(f"{name}\t{value}")
    if report.get("sorted") != "yes":
        click.echo("gristmill: records are out of order", err=True)
        sys.exit(1)


@example.command()
@click.argument("size")
@click.option("-o", "--output", required=True, help="Directory for orders.csv, products.csv.")
@click.option("--seed", type=int, default=0, show_default=True, help="Generator seed.")
@click.option("--jsonl", is_flag=True, help="Write orders.jsonl (JSON lines) instead of CSV.")
@click.option("--overwrite", is_flag=True, help="Replace orders and products already there.")
@reporting
def ordersgen(size: str, output: str, seed: int, jsonl: bool, overwrite: bool) -> None:
    """Generate about SIZE (e.g. 100MB) of orders.csv plus products.csv (seeded)."""
    from gristmill.config import parse_size
    from gristmill.errors import OutputExistsError, UsageError
    from gristmill.examples.orders import generate_orders

    if os.path.lexists(output) and not os.path.isdir(output):
        raise UsageError(f"{output} is not a directory (ordersgen writes files into one)")
    names = ("orders.jsonl" if jsonl else "orders.csv", "products.csv")
    there = [name for name in names if os.path.lexists(os.path.join(output, name))]
    if there and not overwrite:
        raise OutputExistsError(f"{output} already holds {', '.join(there)} (pass --overwrite)")
    written = generate_orders(output, parse_size(size), seed=seed, jsonl=jsonl)
    click.echo(f"wrote {written} bytes of orders to {output}")


@example.command()
@engine_options
@click.argument("orders")
@click.argument("products")
@click.option("-o", "--output", required=True, help="Output directory of Parquet part files.")
@click.option("--overwrite", is_flag=True, help="Replace existing output at commit.")
@click.option(
    "--form",
    type=click.Choice(["records", "columnar"]),
    default="records",
    show_default=True,
    help="API form: dict records and join, or pyarrow batches with a broadcast join.",
)
@reporting
def etl(orders: str, products: str, output: str, overwrite: bool, form: str, **opts: Any) -> None:
    """Revenue per (category, day) of ORDERS joined with PRODUCTS (CSV), as Parquet."""
    from gristmill.examples.etl import etl as job

    config = build_config(opts)
    dataset = job(orders, products, form)
    _finish(dataset.write_parquet(output, overwrite=overwrite, config=config))


@cli.command(
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
@engine_options
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@reporting
def streaming(args: tuple[str, ...], **opts: Any) -> None:
    """Hadoop Streaming: -input IN -output OUT -mapper CMD [-reducer CMD|NONE] [...]."""
    from gristmill.api.streaming_cli import HELP_FLAGS, parse_streaming, streaming_help

    if HELP_FLAGS.intersection(args):  # help is off so that Hadoop's options pass through
        ctx = click.get_current_context()
        click.echo(ctx.get_help() + "\n\n" + streaming_help(), nl=False)
        ctx.exit(0)
    job, output, overwrite = parse_streaming(args)
    config = build_config(opts)
    _finish(job.dataset().write_text(output, overwrite=overwrite, config=config))


@cli.command(name="replay")
@click.argument("bundle_id")
@click.option("--pdb", "use_pdb", is_flag=True, help="Stop in pdb where the task fails.")
@reporting
def replay_command(bundle_id: str, use_pdb: bool) -> None:
    """Rerun one failed task attempt in this process, from its recorded input split."""
    from gristmill.runtime import replay
    from gristmill.runtime.pipeline import LOCATION_ATTR
    from gristmill.runtime.task import execute_task, user_traceback

    spec = replay.load(bundle_id)
    click.echo(f"replaying {spec.name} (attempt {spec.attempt}) of job {spec.job_id}", err=True)
    try:
        result = execute_task(spec)
    except Exception as exc:
        shutil.rmtree(spec.job_dir, ignore_errors=True)
        where = getattr(exc, LOCATION_ATTR, "")
        click.echo(user_traceback(exc), err=True, nl=False)
        if where:
            click.echo(f"record: {where}", err=True)
        if use_pdb:
            import pdb

            pdb.post_mortem(exc.__traceback__)
        sys.exit(1)
    shutil.rmtree(spec.job_dir, ignore_errors=True)
    click.echo(f"the task succeeded on replay: {result.counters}", err=True)


BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")


def main() -> None:
    """Console-script entry point."""
    # The workers are the parallelism. OpenBLAS, loaded with numpy (pyarrow loads it too),
    # otherwise starts a thread per core in the driver that spins after start-up, taking
    # ~0.1 s of CPU from the workers. Set before numpy loads, and only if the user set none of
    # the variables OpenBLAS reads (it prefers this one to the other two).
    if not any(os.environ.get(v) for v in BLAS_THREAD_VARIABLES):
        os.environ["OPENBLAS_NUM_THREADS"] = "1"
    cli(prog_name="gristmill")


if __name__ == "__main__":
    main()
