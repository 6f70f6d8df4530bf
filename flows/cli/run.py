"""`shoppulse run`: one hourly run per shop, side by side."""

from __future__ import annotations

from typing import Annotated

import typer

from flows.cli.options import DEFAULT_CONFIG, ConfigsOption, app, echo_json
from flows.errors import ShoppulseError

__all__ = ["run"]


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
    from flows.etl import hourly_etl
    from flows.secrets import secret_env
    from flows.shops import load_shops, run_each, shop_problems

    # every config is checked before Prefect starts
    shops = load_shops(config or [DEFAULT_CONFIG], secret_env())
    results = run_each(shops, lambda shop: hourly_etl(config=str(shop.config), hour=hour))
    summaries = [r for _, r in results if isinstance(r, dict)]
    echo_json(summaries[0] if len(shops) == 1 and summaries else summaries)
    for summary in summaries:
        if summary["failures"]:
            prefix = "" if len(shops) == 1 else f"{summary['shop']}: "
            typer.echo(
                f"warning: {prefix}{len(summary['failures'])} export(s) failed; their data will"
                " be retried next run: " + "; ".join(summary["failures"].values()),
                err=True,
            )
    problems = shop_problems(results)
    if problems:
        raise ShoppulseError(" | ".join(problems))
