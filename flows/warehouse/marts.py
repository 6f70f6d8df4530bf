"""Refresh the marts for the hours a load touched: read core, call transforms, replace rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import polars as pl

from flows.warehouse.connection import Warehouse, read_sql
from flows.warehouse.coverage import KPI_DATASETS, mark_complete
from transforms import (
    keyword_daily,
    kpi_daily,
    kpi_hourly,
    kpi_hourly_by_source,
    local_day_bounds,
    local_day_start,
    local_hour_start,
    rfm_segments,
    sku_hourly,
    stock_cover,
)
from transforms.rfm import RFM_BASE_SCHEMA, RFM_DAYS
from transforms.service import returns_daily, review_daily, service_hourly, shipping_daily
from transforms.time import HOUR

__all__ = [
    "affected_days",
    "affected_hours",
    "refresh_daily_marts",
    "refresh_marts",
    "refresh_rfm",
    "refresh_service_marts",
    "refresh_stock_cover",
]

VELOCITY_HOURS = 24
LOOKAHEAD_HOURS = 24
# an inventory snapshot older than this is not the SKU's stock any more
SNAPSHOT_MAX_AGE = timedelta(days=7)
RFM_KEEP_DAYS = 14


def affected_hours(touched: pl.Series, tz: str) -> pl.Series:
    """The shop-local hour starts that contain any of the touched instants."""
    frame = pl.DataFrame({"t": touched.cast(pl.Datetime("us", "UTC"))})
    return frame.select(hour=local_hour_start(pl.col("t"), tz)).get_column("hour").unique().sort()


def affected_days(hours: pl.Series, tz: str) -> pl.Series:
    """The shop-local dates of the given hour starts."""
    frame = pl.DataFrame({"hour": hours.cast(pl.Datetime("us", "UTC"))})
    return frame.select(day=local_day_start(pl.col("hour"), tz)).get_column("day").unique().sort()


def _spans(bounds: pl.DataFrame) -> list[tuple[datetime, datetime]]:
    """Contiguous [start, end) ranges covering the given days, adjacent days merged."""
    spans: list[tuple[datetime, datetime]] = []
    for start, end in bounds.select("day_start", "day_end").sort("day_start").iter_rows():
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
    return spans


def _read(wh: Warehouse, model: str, spans: list[tuple[datetime, datetime]]) -> pl.DataFrame:
    # one bound range per query, so DuckDB prunes by zone maps instead of scanning history
    sql = read_sql(f"reads/{model}")
    return pl.concat([wh.frame(sql, {"start": s, "end": e}) for s, e in spans])


class _Inputs(NamedTuple):
    """The touched hours, their local days (as spans) and the rows their marts come from."""

    hours: pl.Series
    days: pl.Series
    spans: list[tuple[datetime, datetime]]
    orders: pl.DataFrame
    traffic: pl.DataFrame
    promotions: pl.DataFrame


def _inputs(wh: Warehouse, tz: str, hours: pl.Series) -> _Inputs:
    """The order lines, traffic and promotions of the local days of `hours`."""
    days = affected_days(hours, tz)
    spans = _spans(local_day_bounds(days, tz))
    orders = _read(wh, "orders_in_span", spans)
    if len(spans) > 1:
        # a line created in one span may be paid or refunded in another
        orders = orders.unique(["order_id", "sku_id"])
    traffic = _read(wh, "traffic_in_span", spans)
    promotions = wh.frame(
        read_sql("reads/promotions_in_span"), {"start": spans[0][0], "end": spans[-1][1]}
    )
    return _Inputs(hours, days, spans, orders, traffic, promotions)


def _flagged(hours: pl.Series, covered: Sequence[datetime]) -> pl.Series:
    """The hours whose KPI rows may have become complete: the touched and the just covered."""
    return pl.concat([hours, pl.Series("hour", list(covered), pl.Datetime("us", "UTC"))])


def refresh_marts(
    wh: Warehouse,
    tz: str,
    touched: pl.Series,
    *,
    covered: Sequence[datetime] = (),
    needs: Sequence[str] = KPI_DATASETS,
    daily: bool = True,
) -> int:
    """Recompute every mart row of the touched hours and their days; returns the hour count.

    Hourly marts are replaced for the touched hours, daily marts for their whole local days,
    and stock cover for the end of the latest touched hour. The KPI rows of those hours and of
    the hours just `covered` are marked complete when every dataset in `needs` covered them.
    With `daily` off (an alert replay between two hours) the marts no rule reads are left to
    `refresh_daily_marts`, called later for every hour touched meanwhile: the daily KPI and
    keyword marts, service_hourly and review_daily. Runs in the caller's transaction.
    """
    hours = affected_hours(touched, tz)
    if hours.is_empty():
        mark_complete(wh, tz, _flagged(hours, covered), needs)
        return 0
    data = _inputs(wh, tz, hours)
    orders, traffic, promotions = data.orders, data.traffic, data.promotions

    wh.replace_rows(
        "mart.kpi_hourly", kpi_hourly(orders, traffic, promotions, hours, tz), "hour", hours
    )
    wh.replace_rows(
        "mart.kpi_hourly_by_source",
        kpi_hourly_by_source(orders, traffic, promotions, hours, tz),
        "hour",
        hours,
    )
    wh.replace_rows("mart.sku_hourly", sku_hourly(orders, traffic, hours, tz), "hour", hours)
    if daily:
        _refresh_days(wh, tz, data)
    _refresh_shipping(wh, tz, data.days)

    mark_complete(wh, tz, _flagged(hours, covered), needs)
    latest = hours.max()
    assert isinstance(latest, datetime)
    refresh_stock_cover(wh, latest + HOUR)
    return hours.len()


def refresh_daily_marts(
    wh: Warehouse,
    tz: str,
    touched: pl.Series,
    *,
    covered: Sequence[datetime] = (),
    needs: Sequence[str] = KPI_DATASETS,
) -> None:
    """What `refresh_marts(daily=False)` left, for all the instants touched meanwhile: the
    daily KPI and keyword marts, service_hourly and review_daily, then the complete flags
    of the daily KPI rows. Runs in the caller's transaction."""
    hours = affected_hours(touched, tz)
    if not hours.is_empty():
        _refresh_days(wh, tz, _inputs(wh, tz, hours))
    mark_complete(wh, tz, _flagged(hours, covered), needs)


def _refresh_days(wh: Warehouse, tz: str, data: _Inputs) -> None:
    """Replace the daily KPI and keyword marts of the touched days, and the service and review
    marts."""
    days = data.days
    keywords = _read(wh, "keywords_in_span", data.spans)
    daily = kpi_daily(data.orders, data.traffic, data.promotions, days, tz)
    wh.replace_rows("mart.kpi_daily", daily, "day", days)
    wh.replace_rows("mart.keyword_daily", keyword_daily(keywords, days, tz), "day", days)
    refresh_service_marts(wh, tz, data.hours, days, data.spans)


def refresh_service_marts(
    wh: Warehouse,
    tz: str,
    hours: pl.Series,
    days: pl.Series,
    spans: list[tuple[datetime, datetime]],
) -> None:
    """Replace the service and review marts of the touched hours and days (shipping and
    returns: `refresh_marts` does them every time)."""
    chats = _read(wh, "service_chats_in_span", spans)
    wh.replace_rows("mart.service_hourly", service_hourly(chats, hours, tz), "hour", hours)
    reviews = _read(wh, "reviews_in_span", spans)
    wh.replace_rows("mart.review_daily", review_daily(reviews, days, tz), "day", days)


def _refresh_shipping(wh: Warehouse, tz: str, days: pl.Series) -> None:
    """Replace the shipping and returns marts of the touched days.

    A shipment shipped today is due up to two days later, so shipping rows of the two days
    after the touched ones are refreshed too."""
    ahead = pl.concat([days.cast(pl.Date).dt.offset_by(f"{d}d") for d in range(3)]).unique().sort()
    ahead_spans = _spans(local_day_bounds(ahead, tz))
    shipments = _read(wh, "shipments_in_span", ahead_spans)
    if len(ahead_spans) > 1:
        shipments = shipments.unique("order_id")
    wh.replace_rows("mart.shipping_daily", shipping_daily(shipments, ahead, tz), "day", ahead)
    wh.replace_rows("mart.returns_daily", returns_daily(shipments, days, tz), "day", days)


def refresh_stock_cover(wh: Warehouse, as_of: datetime) -> int:
    """Replace mart.stock_cover at `as_of` (an hour end); returns the number of SKUs."""
    params: dict[str, Any] = {"as_of": as_of}
    inventory = wh.frame(read_sql("reads/inventory_at"), {**params, "max_age": SNAPSHOT_MAX_AGE})
    paid = wh.frame(
        read_sql("reads/paid_lines_in_span"),
        {"start": as_of - timedelta(hours=VELOCITY_HOURS), "end": as_of},
    )
    lookahead = timedelta(hours=LOOKAHEAD_HOURS)
    promotions = wh.frame(
        read_sql("reads/promotions_in_span"), {"start": as_of, "end": as_of + lookahead + HOUR}
    )
    items = wh.frame(read_sql("reads/promotion_items_at"), {**params, "lookahead": lookahead})
    cover = stock_cover(
        inventory,
        paid,
        promotions,
        items,
        as_of,
        velocity_hours=VELOCITY_HOURS,
        lookahead_hours=LOOKAHEAD_HOURS,
    )
    wh.replace_rows("mart.stock_cover", cover, "as_of", pl.Series([as_of.astimezone(UTC)]))
    return cover.height


def refresh_rfm(wh: Warehouse, tz: str, as_of: datetime, *, keep_days: int = RFM_KEEP_DAYS) -> int:
    """Replace mart.rfm_segments at `as_of` from the 365 days before it; returns the buyer count.

    Meant for a daily run at local midnight. Runs in its own transaction, and drops
    snapshots more than `keep_days` older than as_of (each holds one row per buyer).
    """
    base = wh.frame(
        read_sql("reads/rfm_buyers"), {"start": as_of - timedelta(days=RFM_DAYS), "end": as_of}
    )
    base = base.select([pl.col(n).cast(t) for n, t in RFM_BASE_SCHEMA.items()])
    segments = rfm_segments(base, as_of, tz)
    with wh.transaction():
        wh.replace_rows("mart.rfm_segments", segments, "as_of", pl.Series([as_of.astimezone(UTC)]))
        wh.execute(
            "delete from mart.rfm_segments where as_of < ?",
            [as_of - timedelta(days=keep_days)],
        )
    return segments.height
