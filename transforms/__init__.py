"""Pure Polars transforms: frames in, frames out; no I/O, no clock, no Prefect."""

from __future__ import annotations

from transforms.kpis import KPI_HOURLY_SCHEMA, kpi_hourly
from transforms.time import hour_windows, local_day_start, local_hour_start

__all__ = [
    "KPI_HOURLY_SCHEMA",
    "hour_windows",
    "kpi_hourly",
    "local_day_start",
    "local_hour_start",
]
