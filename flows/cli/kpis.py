"""`shoppulse kpis`: recent rows of mart.kpi_hourly, for people or programs."""

from __future__ import annotations

import csv
import sys
from typing import Annotated, Any

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from flows.cli.options import DEFAULT_CONFIG, ConfigOption, Format, app, echo_json, settings_from
from flows.settings import Settings
from flows.warehouse import Warehouse
from i18n import kpi_headers

__all__ = ["SHOWN", "kpis", "recent_kpis", "render_kpis", "wide_console"]

# the columns shown, in order; the full row is in --format csv/json
SHOWN = (
    "hour",
    "visitors",
    "buyers",
    "conversion_rate",
    "gmv",
    "aov",
    "paid_orders",
    "bounce_rate",
    "add_to_cart",
    "favorites",
    "cancel_rate",
    "refund_amount",
    "in_promo",
    # an hour a dataset it needs (orders, traffic) was not extracted for: not a normal row
    "complete",
)


def recent_kpis(settings: Settings, hours: int) -> list[dict[str, Any]]:
    """The last `hours` rows of mart.kpi_hourly, hour shown on the shop's clock."""
    with Warehouse(settings.warehouse.path, read_only=True) as wh:
        frame = wh.frame(
            "select * from mart.kpi_hourly order by hour desc limit ?", [max(0, hours)]
        ).sort("hour")
    frame = frame.with_columns(
        pl.col("hour").dt.convert_time_zone(settings.shop.timezone).dt.strftime("%Y-%m-%d %H:%M")
    )
    return frame.to_dicts()


def _cell(name: str, value: Any) -> str:
    if value is None:
        return "—"
    if name.endswith("_rate"):
        return f"{value:.2%}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render_kpis(
    rows: list[dict[str, Any]], title: str, console: Console | None = None, locale: str = "en"
) -> None:
    """Print KPI rows as a table on the terminal, headed in the shop's language."""
    headers = kpi_headers(locale)
    table = Table(title=title, pad_edge=False, box=None, header_style="bold")
    for name in SHOWN:
        table.add_column(
            headers.get(name, name), justify="left" if name == "hour" else "right", no_wrap=True
        )
    for row in rows:
        table.add_row(
            *(
                (headers["incomplete"] if row.get(n) is False else "")
                if n == "complete"
                else _cell(n, row.get(n))
                for n in SHOWN
            )
        )
    (console or wide_console()).print(table)


def wide_console() -> Console:
    """A console wide enough for the KPI table even when output is piped."""
    return Console(width=max(Console().width, 130))


@app.command()
def kpis(
    config: ConfigOption = DEFAULT_CONFIG,
    hours: Annotated[
        int, typer.Option(min=0, help="How many recent hours to show.", metavar="N")
    ] = 24,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
) -> None:
    """Print recent rows of mart.kpi_hourly in the shop's local time."""
    settings = settings_from(config)
    rows = recent_kpis(settings, hours)
    if fmt is Format.json:
        echo_json(rows)
    elif fmt is Format.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["hour"])
        writer.writeheader()
        writer.writerows(rows)
    else:
        render_kpis(
            rows, title=f"{settings.shop.name} — last {hours} hours", locale=settings.shop.locale
        )
