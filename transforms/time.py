"""Shop-local clock arithmetic: hours and days start on the shop's wall clock, stored in UTC."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

__all__ = [
    "HOUR",
    "hour_windows",
    "local_day_bounds",
    "local_day_start",
    "local_hour_start",
    "utc",
]

HOUR = timedelta(hours=1)


def utc(expr: pl.Expr) -> pl.Expr:
    """An instant column in UTC with microsecond precision."""
    return expr.dt.convert_time_zone("UTC").dt.cast_time_unit("us")


def _offset(expr: pl.Expr, tz: str) -> pl.Expr:
    local = expr.dt.convert_time_zone(tz)
    return local.dt.base_utc_offset() + local.dt.dst_offset()


def local_hour_start(expr: pl.Expr, tz: str) -> pl.Expr:
    """The instant the shop-local hour containing each instant starts (30-min offsets, DST safe).

    On a fall-back night the repeated local hour gives two distinct instants, one per offset.
    """
    offset = _offset(expr, tz)
    return utc((utc(expr) + offset).dt.truncate("1h") - offset)


def local_day_start(expr: pl.Expr, tz: str) -> pl.Expr:
    """The shop-local calendar date of each instant."""
    return expr.dt.convert_time_zone(tz).dt.date()


def hour_windows(start: datetime, end: datetime, tz: str) -> pl.Series:
    """Every shop-local hour start in [start, end), as UTC instants."""
    if end <= start:
        return pl.Series("hour", [], dtype=pl.Datetime("us", "UTC"))
    minutes = pl.datetime_range(
        start, end, interval="15m", closed="left", time_zone="UTC", eager=True
    )
    frame = pl.DataFrame({"t": minutes}).select(hour=local_hour_start(pl.col("t"), tz)).unique()
    return frame.filter(pl.col("hour") >= start).get_column("hour").sort()


def _local_midnight(day: pl.Expr, tz: str) -> pl.Expr:
    # a midnight skipped by a spring-forward gap starts the day at 01:00 local, the same instant
    midnight = day.cast(pl.Datetime("us"))
    return utc(
        pl.coalesce(
            midnight.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null"),
            (midnight + HOUR).dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null"),
        )
    )


def local_day_bounds(days: pl.Series, tz: str) -> pl.DataFrame:
    """Each distinct shop-local date, with the instants it starts and ends (23 or 25 h on DST)."""
    frame = pl.DataFrame({"day": days.cast(pl.Date)}).unique().sort("day")
    return frame.with_columns(
        day_start=_local_midnight(pl.col("day"), tz),
        day_end=_local_midnight(pl.col("day").dt.offset_by("1d"), tz),
    )
