"""`shoppulse promo check SHEET|--promotion ID`: the campaign registration checklist."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from flows.cli.options import DEFAULT_CONFIG, ConfigOption, TableFormat, app, echo_json
from flows.clock import parse_instant

__all__ = ["check", "promo_app", "render_checks"]

promo_app = typer.Typer(name="promo", help="Campaign registration checks.", no_args_is_help=True)

_MARKS = {"pass": "pass", "fail": "FAIL", "skip": "skip"}


def render_checks(result: pl.DataFrame, title: str, console: Console | None = None) -> None:
    """One row per SKU, one column per check (pass / FAIL / skip), then each failure's why."""
    console = console or Console(stderr=True, width=max(Console().width, 120))
    checks = list(dict.fromkeys(result.get_column("check").to_list()))
    table = Table(title=title, box=None, header_style="bold", pad_edge=False)
    table.add_column("sku_id", no_wrap=True)
    for name in checks:
        table.add_column(name, no_wrap=True)
    for (sku,), rows in result.group_by("sku_id", maintain_order=True):
        status = dict(zip(rows.get_column("check"), rows.get_column("status"), strict=True))
        table.add_row(str(sku), *(_MARKS[status.get(c, "skip")] for c in checks))
    console.print(table)
    for sku, name, _, detail in result.filter(pl.col("status") == "fail").iter_rows():
        console.print(f"FAIL {sku} {name}: {detail}", highlight=False, soft_wrap=True)


@promo_app.command("check")
def check(
    sheet: Annotated[
        Path | None,
        typer.Argument(help="Registration sheet (.csv or .xlsx).", show_default=False),
    ] = None,
    promotion: Annotated[
        str | None,
        typer.Option("--promotion", help="Check a promotion already in the warehouse instead."),
    ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
    at: Annotated[
        str | None,
        typer.Option(help="Check against the data as of this time (default: the latest load)."),
    ] = None,
    fmt: Annotated[
        TableFormat, typer.Option("--format", help="Output format.")
    ] = TableFormat.table,
) -> None:
    """Audit a campaign registration before it is submitted; exit 1 when a check fails."""
    from flows.errors import RegistrationFailedError, RegistrationSheetError
    from flows.promo_check import check_promotion, check_sheet
    from flows.settings import load_settings

    if (sheet is None) == (promotion is None):
        raise RegistrationSheetError("give a registration sheet or --promotion ID (one of them)")
    settings = load_settings(config)
    when = parse_instant(at, settings.shop.tz) if at else None
    if sheet is not None:
        result = check_sheet(settings, sheet, when)
        title = f"{settings.shop.name}: registration checklist for {sheet.name}"
    else:
        assert promotion is not None
        result = check_promotion(settings, promotion, when)
        title = f"{settings.shop.name}: registration checklist for promotion {promotion}"
    failed = result.filter(pl.col("status") == "fail").height
    if fmt is TableFormat.json:
        echo_json({"ok": failed == 0, "failures": failed, "checks": result.to_dicts()})
    else:
        render_checks(result, title)
    if failed:
        # the expected-failure path: one line on stderr, exit status 1
        raise RegistrationFailedError(f"{failed} registration check(s) failed")


app.add_typer(promo_app)
