"""`shoppulse run`: one hourly run per shop, side by side."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from flows.cli.options import DEFAULT_CONFIG, ConfigsOption, app, echo_json
from flows.errors import EXIT_ERROR, RunIncompleteError, ShoppulseError

__all__ = ["run"]


def _failed(result: object) -> bool:
    return isinstance(result, BaseException)


@app.command()
def run(
    config: ConfigsOption = None,
    hour: Annotated[
        str | None,
        typer.Option(
            help="Process up to the end of this local hour (ISO), as if the clock stood there.",
            metavar="ISO",
        ),
    ] = None,
) -> None:
    """One hourly run per shop, side by side: extract, load, refresh KPIs, evaluate alerts."""
    from flows.clock import parse_instant

    # every argument and config is checked before Prefect starts (a config's missing
    # ${VAR} may still be looked up in a Prefect Secret block)
    if hour is not None:
        parse_instant(hour, ZoneInfo("UTC"))
    from flows.etl import hourly_etl
    from flows.local_server import start_temporary_server_early
    from flows.secrets import secret_env
    from flows.shops import load_shops, run_each, shop_problems
    from transforms.stats import distributions

    shops = load_shops(config or [DEFAULT_CONFIG], secret_env())
    # the rules' statistics (scipy.stats, about a second to import) load while the command's
    # own temporary server comes up (none with an API configured), not after the run's load
    server_ready = start_temporary_server_early()
    distributions()
    server_ready()
    results = run_each(shops, lambda shop: hourly_etl(config=str(shop.config), hour=hour))
    # an incomplete run still committed what it loaded: its summary is printed with the rest
    summaries = [
        r.summary if isinstance(r, RunIncompleteError) else r
        for _, r in results
        if isinstance(r, dict | RunIncompleteError)
    ]
    echo_json(summaries[0] if len(shops) == 1 and summaries else summaries)
    problems = shop_problems(results)
    if problems:
        codes = [getattr(r, "exit_code", EXIT_ERROR) for _, r in results if _failed(r)]
        failed = ShoppulseError(" | ".join(problems))
        failed.exit_code = EXIT_ERROR if EXIT_ERROR in codes else max(codes)
        raise failed
