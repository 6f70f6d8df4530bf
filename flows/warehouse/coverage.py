"""Coverage: record which hours each dataset's extracted window covered, and mark KPI rows.

`record_coverage` runs in the load's transaction, so coverage exists exactly when the data it
describes committed. `mark_complete` runs in the mart refresh's transaction and sets the
`complete` column of the hourly and daily KPI marts from it (transforms.coverage).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import polars as pl

from flows.warehouse.connection import Warehouse, read_sql
from transforms import local_day_bounds, local_day_start
from transforms.coverage import KPI_DATASETS, complete_days, complete_hours, covered_hours

__all__ = ["KPI_DATASETS", "kpi_needs", "mark_complete", "record_coverage", "record_coverages"]


def kpi_needs(datasets: Sequence[str]) -> tuple[str, ...]:
    """The datasets a shop's KPI hours need covered: orders and traffic, where it pulls them."""
    return tuple(d for d in KPI_DATASETS if d in datasets)


def record_coverage(
    wh: Warehouse, dataset: str, since: datetime | None, until: datetime, batch_id: str
) -> list[datetime]:
    """Record the hours [since, until) covered for `dataset`; returns them.

    A window without `since` (a dimension's first pull) covers no hour of its own.
    """
    return record_coverages(wh, {dataset: batch_id}, since, until)


def record_coverages(
    wh: Warehouse, batches: Mapping[str, str], since: datetime | None, until: datetime
) -> list[datetime]:
    """`record_coverage` for several datasets (dataset -> batch id) in one statement."""
    if since is None or not batches:
        return []
    hours = covered_hours(since, until)
    if hours:
        wh.execute(
            read_sql("marts/record_coverage"),
            {"datasets": list(batches), "batch_ids": list(batches.values()), "hours": hours},
        )
    return hours


def mark_complete(wh: Warehouse, tz: str, hours: pl.Series, needs: Sequence[str]) -> None:
    """Set `complete` on the KPI rows of `hours` and of their local days."""
    if hours.is_empty():
        return
    hours = hours.cast(pl.Datetime("us", "UTC")).unique().sort()
    frame = pl.DataFrame({"hour": hours})
    days = frame.select(day=local_day_start(pl.col("hour"), tz)).get_column("day").unique()
    bounds = local_day_bounds(days, tz)
    coverage = wh.frame(
        read_sql("reads/coverage_in_span"),
        {"start": bounds.get_column("day_start").min(), "end": bounds.get_column("day_end").max()},
    )
    flags = {
        "_complete_hours": complete_hours(coverage, hours, needs),
        "_complete_days": complete_days(coverage, days, tz, needs),
    }
    for name, flag in flags.items():
        wh.con.register(name, flag.to_arrow())
    try:
        for table in ("kpi_hourly", "kpi_hourly_by_source", "kpi_daily"):
            wh.execute(read_sql(f"marts/complete_{table}"))
    finally:
        for name in flags:
            wh.con.unregister(name)
