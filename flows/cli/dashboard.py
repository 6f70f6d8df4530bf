"""`shoppulse dashboard`: write the static HTML dashboard of the latest hours."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.cli.options import DEFAULT_CONFIG, ConfigOption, app, settings_from

__all__ = ["dashboard"]


@app.command()
def dashboard(
    config: ConfigOption = DEFAULT_CONFIG,
    out: Annotated[
        Path | None,
        typer.Option(
            help="HTML file to write [default: <shop name>-dashboard.html].", metavar="FILE"
        ),
    ] = None,
    hours: Annotated[
        int, typer.Option(min=1, max=24 * 90, help="Hours shown in the charts.", metavar="N")
    ] = 48,
) -> None:
    """Write a self-contained HTML dashboard of the latest hour (opens offline)."""
    from flows.dashboard import write_dashboard

    settings = settings_from(config)
    path = write_dashboard(settings, out or Path(f"{settings.shop.name}-dashboard.html"), hours)
    typer.echo(f"dashboard written to {path}")
