"""`shoppulse serve`: schedule every shop's runs with Prefect until Ctrl-C."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from flows.cli.options import DEFAULT_CONFIG, ConfigsOption, app

__all__ = ["serve"]


@app.command()
def serve(
    config: ConfigsOption = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Most flow runs at once (all shops).", metavar="N")
    ] = None,
) -> None:
    """Schedule each shop's hourly run (cron 5 * * * *, shop time), daily RFM and reviews."""
    from flows.serve import serve_shops

    serve_shops(config or [DEFAULT_CONFIG], limit=limit)
    # leave without interpreter teardown: collecting Prefect's event loops there prints
    # "Exception ignored" tracebacks after the one line that says serving stopped
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
