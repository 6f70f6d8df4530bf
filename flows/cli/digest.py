"""`shoppulse digest`: the daily or weekly review, sent to every channel or printed as JSON."""

from __future__ import annotations

from typing import Annotated

import typer

from flows.cli.options import (
    DEFAULT_CONFIG,
    ConfigOption,
    TableFormat,
    app,
    echo_json,
    settings_from,
)
from flows.errors import ShoppulseError

__all__ = ["digest"]


@app.command()
def digest(
    config: ConfigOption = DEFAULT_CONFIG,
    day: Annotated[
        str | None,
        typer.Option(help="Review this local day (ISO date, e.g. 2026-11-11).", metavar="DATE"),
    ] = None,
    week: Annotated[
        str | None,
        typer.Option(help="Review this ISO week (e.g. 2026-W46).", metavar="WEEK"),
    ] = None,
    fmt: Annotated[
        TableFormat,
        typer.Option("--format", help="table: queue and send it; json: print the figures only."),
    ] = TableFormat.table,
) -> None:
    """The daily digest (--day) or weekly review (--week): sent once per channel, or printed
    as JSON with --format json (which sends nothing)."""
    if (day is None) == (week is None):
        raise ShoppulseError("give exactly one of --day DATE or --week WEEK")
    settings = settings_from(config)
    if fmt is TableFormat.json:
        from flows.digest import daily_figures, parse_day, parse_week, weekly_figures
        from flows.warehouse import Warehouse

        with Warehouse(settings.warehouse.path, read_only=True) as wh:
            if day is not None:
                figures = daily_figures(wh, settings, parse_day(day, settings))
            else:
                figures = weekly_figures(wh, settings, parse_week(week, settings))
        echo_json(figures)
        return
    from flows.digest import daily_digest, weekly_review
    from flows.local_server import tie_temporary_server

    tie_temporary_server()  # with no API configured, the command's own server, as `run` starts
    result = (
        daily_digest(config=str(config), day=day)
        if day is not None
        else weekly_review(config=str(config), week=week)
    )
    typer.echo(
        f"{result['figures']['period']}: queued {len(result['queued'])}, sent"
        f" {len(result['sent'])}, retrying {len(result['retrying'])}, dead {len(result['dead'])}",
        err=True,
    )
    if result["retrying"] or result["dead"]:
        raise ShoppulseError(
            f"{len(result['retrying']) + len(result['dead'])} digest message(s) not delivered;"
            " see `shoppulse alerts list`"
        )
