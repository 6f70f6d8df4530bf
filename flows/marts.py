"""Refresh the marts for the hours a load touched: read core, call transforms, replace rows."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from flows.warehouse import Warehouse, read_sql
from transforms import kpi_hourly, local_hour_start

__all__ = ["affected_hours", "refresh_marts"]


def affected_hours(touched: pl.Series, tz: str) -> pl.Series:
    """The shop-local hour starts that contain any of the touched instants."""
    frame = pl.DataFrame({"t": touched.cast(pl.Datetime("us", "UTC"))})
    return frame.select(hour=local_hour_start(pl.col("t"), tz)).get_column("hour").unique().sort()


def refresh_marts(wh: Warehouse, tz: str, touched: pl.Series) -> int:
    """Recompute every mart row of the touched hours; returns the number of hours refreshed."""
    hours = affected_hours(touched, tz)
    if hours.is_empty():
        return 0
    wh.con.register("_hours", pl.DataFrame({"hour": hours}).to_arrow())
    try:
        orders = wh.frame(read_sql("reads/orders_for_hours"))
        traffic = wh.frame(read_sql("reads/traffic_for_hours"))
        start, end = hours.min(), hours.max()
        assert isinstance(start, datetime) and isinstance(end, datetime)
        promotions = wh.frame(
            "select promo_id, starts_at, ends_at from core.promotions"
            " where starts_at < ? and ends_at > ?",
            [end + timedelta(hours=1), start],
        )
    finally:
        wh.con.unregister("_hours")
    kpis = kpi_hourly(orders, traffic, promotions, hours, tz)
    wh.replace_rows("mart.kpi_hourly", kpis, "hour", hours)
    return hours.len()
