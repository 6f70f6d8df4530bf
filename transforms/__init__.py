"""Pure Polars transforms: frames in, frames out; no I/O, no clock, no Prefect."""

from __future__ import annotations

import polars as pl

from transforms.keywords import KEYWORD_DAILY_SCHEMA, keyword_daily
from transforms.kpis import (
    KPI_DAILY_SCHEMA,
    KPI_HOURLY_BY_SOURCE_SCHEMA,
    KPI_HOURLY_SCHEMA,
    SKU_HOURLY_SCHEMA,
    kpi_daily,
    kpi_hourly,
    kpi_hourly_by_source,
    sku_hourly,
)
from transforms.rfm import RFM_SEGMENTS_SCHEMA, rfm_base, rfm_segments
from transforms.service import (
    RETURNS_DAILY_SCHEMA,
    REVIEW_DAILY_SCHEMA,
    SERVICE_HOURLY_SCHEMA,
    SHIPPING_DAILY_SCHEMA,
)
from transforms.stock import STOCK_COVER_SCHEMA, stock_cover
from transforms.time import hour_windows, local_day_bounds, local_day_start, local_hour_start

__all__ = [
    "KEYWORD_DAILY_SCHEMA",
    "KPI_DAILY_SCHEMA",
    "KPI_HOURLY_BY_SOURCE_SCHEMA",
    "KPI_HOURLY_SCHEMA",
    "MART_SCHEMAS",
    "RFM_SEGMENTS_SCHEMA",
    "SKU_HOURLY_SCHEMA",
    "STOCK_COVER_SCHEMA",
    "hour_windows",
    "keyword_daily",
    "kpi_daily",
    "kpi_hourly",
    "kpi_hourly_by_source",
    "local_day_bounds",
    "local_day_start",
    "local_hour_start",
    "rfm_base",
    "rfm_segments",
    "sku_hourly",
    "stock_cover",
]

# the KPI marts' completeness flag, set from ops.coverage after the transform (transforms.coverage)
_COMPLETE: dict[str, pl.DataType] = {"complete": pl.Boolean()}

# every mart table and the columns (in order) and types its transform produces
MART_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "mart.kpi_hourly": {**KPI_HOURLY_SCHEMA, **_COMPLETE},
    "mart.kpi_hourly_by_source": {**KPI_HOURLY_BY_SOURCE_SCHEMA, **_COMPLETE},
    "mart.kpi_daily": {**KPI_DAILY_SCHEMA, **_COMPLETE},
    "mart.sku_hourly": SKU_HOURLY_SCHEMA,
    "mart.keyword_daily": KEYWORD_DAILY_SCHEMA,
    "mart.stock_cover": STOCK_COVER_SCHEMA,
    "mart.rfm_segments": RFM_SEGMENTS_SCHEMA,
    "mart.service_hourly": SERVICE_HOURLY_SCHEMA,
    "mart.review_daily": REVIEW_DAILY_SCHEMA,
    "mart.shipping_daily": SHIPPING_DAILY_SCHEMA,
    "mart.returns_daily": RETURNS_DAILY_SCHEMA,
}
