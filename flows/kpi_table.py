"""Reading and showing recent KPI rows for people (the `shoppulse kpis` command)."""

from __future__ import annotations

from typing import Any

import polars as pl
from rich.console import Console
from rich.table import Table

from flows.settings import Settings
from flows.warehouse import Warehouse

__all__ = ["SHOWN", "recent_kpis", "render_kpis"]

SHOWN = (
    "hour",
    "visitors",
    "buyers",
    "conversion_rate",
    "gmv",
    "aov",
    "paid_orders",
    "units",
    "bounce_rate",
    "add_to_cart",
    "favorites",
    "cancel_rate",
    "refund_amount",
    "in_promo",
)


def recent_kpis(settings: Settings, hours: int) -> list[dict[str, Any]]:
    """The last `hours` rows of mart.kpi_hourly, hour shown on the shop's clock."""
    with Warehouse(settings.warehouse.path, read_only=True) as wh:
        frame = wh.frame(
            "select * from mart.kpi_hourly order by hour desc limit ?", [max(0, hours)]
        ).sort("hour")
    frame = frame.with_columns(
        pl.col("hour").dt.convert_time_zone(settings.shop.timezone).dt.strftime("%Y-%m-%d %H:%M%z")
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


def render_kpis(rows: list[dict[str, Any]], title: str, console: Console | None = None) -> None:
    """Print KPI rows as a table on the terminal."""
    table = Table(title=title)
    for name in SHOWN:
        table.add_column(name, justify="left" if name == "hour" else "right")
    for row in rows:
        table.add_row(*(_cell(n, row.get(n)) for n in SHOWN))
    (console or Console()).print(table)
