"""The `shoppulse` command line: one thin module per command group over the flows."""

from __future__ import annotations

import logging
import os
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated

import click
import typer

# each module registers its commands on the shared app when imported
from flows.cli import (  # noqa: F401
    alerts,
    backfill,
    config,
    dashboard,
    demo,
    deploy,
    digest,
    kpis,
    promo,
    run,
    serve,
    simulate,
)
from flows.cli.options import app
from flows.errors import EXIT_ERROR, EXPECTED_ERRORS

__all__ = ["app", "main"]


def _version(value: bool) -> None:
    if value:
        try:
            number = version("shoppulse")
        except PackageNotFoundError:  # running from a checkout that was never installed
            number = "unknown"
        typer.echo(f"shoppulse {number}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Hourly ETL and alerting for e-commerce shop operations teams."""


def _prefect_defaults() -> None:
    # keep Prefect's state beside the project and its analytics off unless told otherwise
    os.environ.setdefault("PREFECT_HOME", str(Path.cwd() / ".prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # the temporary local API needs longer than Prefect's 20 s on a busy 2-core machine
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def _exit(code: int) -> None:
    # A failed flow run keeps its traceback (and the DuckDB objects in its frames) alive until
    # interpreter teardown, where the binding reports them as leaks: leave without teardown.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


# Prefect's "Crash detected!" and "Finished in state Crashed" lines for Ctrl-C or SIGTERM, per
# flow and task run; the runs are still marked Crashed in Prefect, and the CLI says "interrupted"
_SIGNAL_CRASHES = ("aborted by an interrupt signal", "aborted by a termination signal")


class _QuietExpected(logging.Filter):
    """Drop Prefect's log of an expected failure or an interrupt (the CLI prints its reason as
    one line) and the traceback from any other failure's log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], EXPECTED_ERRORS):
            return False
        if isinstance(record.msg, str) and any(s in record.msg for s in _SIGNAL_CRASHES):
            return False
        if isinstance(record.msg, str) and "Traceback (most recent call last)" in record.msg:
            record.msg = record.msg.split("\nTraceback (most recent call last)")[0]
        return True


def _quiet_prefect_tracebacks() -> None:
    quiet = _QuietExpected()
    for name in (
        "prefect.flow_runs",
        "prefect.task_runs",
        "prefect.flow_engine",
        "prefect.task_engine",
    ):
        logging.getLogger(name).addFilter(quiet)


def main() -> None:
    """Console entry point: expected failures print one line on stderr and exit non-zero.

    Every server the command started (Prefect's temporary API) is stopped before it exits,
    on success, on error and on Ctrl-C.
    """
    from flows.local_server import local_run_settings, stop_temporary_server

    _prefect_defaults()
    _quiet_prefect_tracebacks()
    try:
        # without standalone mode, Ctrl-C and `typer.Exit(n)` come back as a return value
        with local_run_settings():
            code = app(standalone_mode=False)
    except EXPECTED_ERRORS as exc:
        typer.echo(f"shoppulse: {exc}", err=True)
        stop_temporary_server()
        _exit(getattr(exc, "exit_code", EXIT_ERROR))
    except (click.exceptions.Abort, typer.Abort, KeyboardInterrupt):
        typer.echo("shoppulse: interrupted", err=True)
        stop_temporary_server()
        _exit(130)
    except Exception as exc:
        stop_temporary_server()
        # usage errors (click's, or the copy bundled with typer) print their usage line
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            sys.exit(code)
        raise
    if code == 130:
        typer.echo("shoppulse: interrupted", err=True)
    stop_temporary_server()
    if isinstance(code, int) and code != 0:
        _exit(code)
