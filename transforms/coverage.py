"""Data completeness: which KPI hours and days every dataset they need was extracted for.

`coverage` frames have one row per (`dataset`, `hour`): a local hour start that an extracted
window of that dataset contained whole. A KPI hour is complete when each needed dataset
covered it; a KPI day when all its local hours are complete.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import polars as pl

from transforms.time import HOUR, local_day_bounds

__all__ = ["KPI_DATASETS", "complete_days", "complete_hours", "covered_hours"]

# the datasets the KPI marts are computed from
KPI_DATASETS = ("orders", "traffic")

TS = pl.Datetime("us", "UTC")


def covered_hours(since: datetime, until: datetime) -> list[datetime]:
    """The hour starts that [since, until) contains whole, stepping from `since`.

    Windows start on shop-local hour starts, so these are local hour starts too.
    """
    hours = []
    at = since
    while at + HOUR <= until:
        hours.append(at)
        at += HOUR
    return hours


def _flags(coverage: pl.DataFrame, needs: Sequence[str]) -> pl.DataFrame:
    """Per covered hour: whether every needed dataset covered it."""
    return (
        coverage.filter(pl.col("dataset").is_in(list(needs)))
        .group_by(pl.col("hour").cast(TS))
        .agg(covered=pl.col("dataset").n_unique())
        .select("hour", complete=pl.col("covered") == len(needs))
    )


def complete_hours(coverage: pl.DataFrame, hours: pl.Series, needs: Sequence[str]) -> pl.DataFrame:
    """`hour`, `complete` for each requested hour."""
    frame = pl.DataFrame({"hour": hours.cast(TS)}).unique()
    return (
        frame.join(_flags(coverage, needs), on="hour", how="left")
        .select("hour", complete=pl.col("complete").fill_null(False))
        .sort("hour")
    )


def complete_days(
    coverage: pl.DataFrame, days: pl.Series, tz: str, needs: Sequence[str]
) -> pl.DataFrame:
    """`day`, `complete` for each requested local date: every hour of it complete."""
    bounds = local_day_bounds(days, tz)
    if bounds.is_empty():
        return pl.DataFrame(schema={"day": pl.Date, "complete": pl.Boolean})
    done = _flags(coverage, needs).filter(pl.col("complete"))
    counted = (
        bounds.join_where(
            done, pl.col("hour") >= pl.col("day_start"), pl.col("hour") < pl.col("day_end")
        )
        .group_by("day")
        .agg(hours=pl.len())
    )
    return (
        bounds.join(counted, on="day", how="left")
        .with_columns(length=(pl.col("day_end") - pl.col("day_start")).dt.total_hours())
        .select("day", complete=pl.col("hours").fill_null(0) == pl.col("length"))
        .sort("day")
    )
