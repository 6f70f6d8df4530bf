"""Shop-level hourly KPIs (DESIGN.md §5), computed from core order lines and traffic."""

from __future__ import annotations

import polars as pl

from transforms.time import HOUR, local_hour_start

__all__ = ["KPI_HOURLY_SCHEMA", "TRAFFIC_MEASURES", "kpi_hourly", "ratio"]

TS = pl.Datetime("us", "UTC")
TRAFFIC_MEASURES = ("visitors", "page_views", "bounces", "add_to_cart", "favorites")

KPI_HOURLY_SCHEMA: dict[str, pl.DataType] = {
    "hour": TS,
    "visitors": pl.Int64(),
    "page_views": pl.Int64(),
    "bounces": pl.Int64(),
    "bounce_rate": pl.Float64(),
    "add_to_cart": pl.Int64(),
    "favorites": pl.Int64(),
    "paid_orders": pl.Int64(),
    "buyers": pl.Int64(),
    "units": pl.Int64(),
    "gmv": pl.Float64(),
    "conversion_rate": pl.Float64(),
    "aov": pl.Float64(),
    "created_lines": pl.Int64(),
    "cancelled_orders": pl.Int64(),
    "cancel_rate": pl.Float64(),
    "refund_amount": pl.Float64(),
    "in_promo": pl.Boolean(),
}


def ratio(numerator: str, denominator: str) -> pl.Expr:
    """numerator / denominator, null (never inf or NaN) when the denominator is zero."""
    return (
        pl.when(pl.col(denominator) > 0)
        .then(pl.col(numerator).cast(pl.Float64) / pl.col(denominator))
        .otherwise(None)
    )


def _paid(orders: pl.DataFrame, tz: str, keys: list[str]) -> pl.DataFrame:
    return (
        orders.filter(pl.col("paid_at").is_not_null())
        .with_columns(hour=local_hour_start(pl.col("paid_at"), tz))
        .group_by(["hour", *keys])
        .agg(
            paid_orders=pl.col("order_id").n_unique().cast(pl.Int64),
            buyers=pl.col("buyer_id").n_unique().cast(pl.Int64),
            units=pl.col("quantity").sum().cast(pl.Int64),
            gmv=pl.col("pay_amount").sum().cast(pl.Float64),
        )
    )


def _created(orders: pl.DataFrame, tz: str, keys: list[str]) -> pl.DataFrame:
    return (
        orders.with_columns(hour=local_hour_start(pl.col("created_at"), tz))
        .group_by(["hour", *keys])
        .agg(
            created_lines=pl.len().cast(pl.Int64),
            cancelled_orders=(pl.col("status") == "cancelled").sum().cast(pl.Int64),
        )
    )


def _refunds(orders: pl.DataFrame, tz: str, keys: list[str]) -> pl.DataFrame:
    return (
        orders.filter(pl.col("status") == "refunded")
        .with_columns(hour=local_hour_start(pl.col("updated_at"), tz))
        .group_by(["hour", *keys])
        .agg(refund_amount=pl.col("pay_amount").sum().cast(pl.Float64))
    )


def _traffic(traffic: pl.DataFrame, tz: str, keys: list[str]) -> pl.DataFrame:
    return (
        traffic.with_columns(hour=local_hour_start(pl.col("hour"), tz))
        .group_by(["hour", *keys])
        .agg([pl.col(m).sum().cast(pl.Int64) for m in TRAFFIC_MEASURES])
    )


def _in_promo(hours: pl.DataFrame, promotions: pl.DataFrame) -> pl.DataFrame:
    if promotions.is_empty():
        return hours.with_columns(in_promo=pl.lit(False))
    spans = promotions.select("starts_at", "ends_at")
    return (
        hours.join(spans, how="cross")
        .with_columns(
            active=(pl.col("starts_at") < pl.col("hour") + HOUR)
            & (pl.col("ends_at") > pl.col("hour"))
        )
        .group_by("hour")
        .agg(in_promo=pl.col("active").any())
        .join(hours, on="hour", how="right")
        .select("hour", pl.col("in_promo").fill_null(False))
    )


def measures(
    orders: pl.DataFrame, traffic: pl.DataFrame, hours: pl.Series, tz: str, keys: list[str]
) -> pl.DataFrame:
    """Base counts and rates for each hour in `hours` (and each combination of `keys`)."""
    parts = [
        _traffic(traffic, tz, keys),
        _paid(orders, tz, keys),
        _created(orders, tz, keys),
        _refunds(orders, tz, keys),
    ]
    wanted = pl.DataFrame({"hour": hours.cast(TS)})
    if keys:
        combos = pl.concat([p.select(keys) for p in parts]).unique()
        base = wanted.join(combos, how="cross")
    else:
        base = wanted
    for part in parts:
        base = base.join(part, on=["hour", *keys], how="left")
    counts = [c for p in parts for c in p.columns if c not in ("hour", *keys)]
    return base.with_columns([pl.col(c).fill_null(0) for c in counts]).with_columns(
        bounce_rate=ratio("bounces", "visitors"),
        conversion_rate=ratio("buyers", "visitors"),
        aov=ratio("gmv", "buyers"),
        cancel_rate=ratio("cancelled_orders", "created_lines"),
    )


def kpi_hourly(
    orders: pl.DataFrame,
    traffic: pl.DataFrame,
    promotions: pl.DataFrame,
    hours: pl.Series,
    tz: str,
) -> pl.DataFrame:
    """One mart.kpi_hourly row per requested local hour, zeros where nothing happened."""
    base = measures(orders, traffic, hours, tz, keys=[])
    flagged = base.join(_in_promo(base.select("hour"), promotions), on="hour", how="left")
    return flagged.select(
        [pl.col(name).cast(dtype) for name, dtype in KPI_HOURLY_SCHEMA.items()]
    ).sort("hour")
