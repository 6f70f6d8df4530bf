"""low_stock_promo: will a promoted SKU run out before its promotion ends?

Per SKU in a promotion running at `as_of` or starting within `lookahead_hours`:

- available = on_hand - reserved at the SKU's latest snapshot, less the units paid since;
- expected demand per future hour = the SKU's usual hourly rate (its paid units over the
  baseline days, hours it was promoted left out) × the shop's hour-of-day shape × the
  promotion's uplift in the promotion's hours. Before a promotion starts the uplift is the
  prior for its kind; once it runs, the uplift observed over its last `velocity_hours`
  takes over as evidence accumulates;
- projected stock-out: the instant cumulative expected demand reaches `available`.

It fires when available <= safety stock, or the projected stock-out falls before the
promotion ends; critical when out of stock or the cover is under `min_cover_hours`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import polars as pl

__all__ = [
    "DEFAULT_UPLIFT",
    "LOW_STOCK_CANDIDATE_SCHEMA",
    "available_stock",
    "demand_rates",
    "low_stock_promo",
    "promo_sales",
]

TS = pl.Datetime("us", "UTC")

# What a promotion of each kind usually multiplies a promoted SKU's sales by, before any
# sales of the promotion itself are seen. Settings override these per shop.
DEFAULT_UPLIFT: dict[str, float] = {
    "flash_sale": 12.0,
    "discount": 3.0,
    "presale": 2.0,
    "full_reduction": 1.3,
}
# the prior weighs as much as this many hours of the SKU's usual sales
PRIOR_HOURS = 3.0

LOW_STOCK_CANDIDATE_SCHEMA: dict[str, pl.DataType] = {
    "sku_id": pl.String(),
    "promo_id": pl.String(),
    "promo_kind": pl.String(),
    "promo_starts_at": TS,
    "promo_ends_at": TS,
    "available": pl.Int64(),
    "safety_stock": pl.Int64(),
    "velocity_per_hour": pl.Float64(),
    "uplift": pl.Float64(),
    "demand_to_end": pl.Float64(),
    "hours_of_cover": pl.Float64(),
    "projected_stockout_at": TS,
    "shortfall": pl.Float64(),
    "promo_price": pl.Float64(),
    "severity": pl.String(),
    "reason": pl.String(),
}


def available_stock(inventory: pl.DataFrame, paid: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    """Per SKU: on_hand - reserved over its warehouses at its latest snapshot before `as_of`,
    less the units paid after that snapshot and before `as_of` (the stock sold since)."""
    known = inventory.filter(pl.col("snapshot_at") < as_of)
    latest = known.group_by("sku_id").agg(pl.col("snapshot_at").max())
    stock = (
        known.join(latest, on=["sku_id", "snapshot_at"], how="semi")
        .group_by("sku_id", "snapshot_at")
        .agg(snapshot=(pl.col("on_hand") - pl.col("reserved")).sum().cast(pl.Int64))
    )
    sold = (
        paid.filter(pl.col("paid_at") < as_of)
        .join(stock.select("sku_id", "snapshot_at"), on="sku_id")
        .filter(pl.col("paid_at") >= pl.col("snapshot_at"))
        .group_by("sku_id")
        .agg(sold=pl.col("quantity").sum().cast(pl.Int64))
    )
    return (
        stock.join(sold, on="sku_id", how="left")
        .with_columns(available=pl.col("snapshot") - pl.col("sold").fill_null(0))
        .select("sku_id", "snapshot_at", "available")
    )


def _promoted_hours(promotions: pl.DataFrame, items: pl.DataFrame) -> pl.DataFrame:
    return items.select("promo_id", "sku_id").join(
        promotions.select("promo_id", "kind", "starts_at", "ends_at"), on="promo_id"
    )


def demand_rates(
    sku_units: pl.DataFrame,
    shop_units: pl.DataFrame,
    promotions: pl.DataFrame,
    items: pl.DataFrame,
    skus: pl.Series,
    tz: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The shop's hour-of-day shape (`hod`, `shape`: units at that local hour over the
    average hour) and each SKU's usual rate (`sku_id`, `rate`: units per shape-weighted
    hour), from hours in which neither the shop nor the SKU was promoted.

    `sku_units` (hour, sku_id, units) and `shop_units` (hour, units, in_promo) cover the
    baseline period; hours without a row for a SKU sold nothing.
    """
    local = pl.col("hour").dt.convert_time_zone(tz)
    quiet = shop_units.filter(~pl.col("in_promo").fill_null(False)).with_columns(
        hod=local.dt.hour()
    )
    if quiet.is_empty():
        quiet = shop_units.with_columns(hod=local.dt.hour())
    mean = quiet.get_column("units").mean()
    shape = (
        quiet.group_by("hod")
        .agg(shape=pl.col("units").mean() / (mean if mean else 1.0))
        .with_columns(pl.col("shape").clip(0.05, None))
    )
    grid = (
        quiet.select("hour", "hod")
        .join(pl.DataFrame({"sku_id": skus.unique()}), how="cross")
        .join(shape, on="hod")
    )
    promoted = _promoted_hours(promotions, items)
    hit = (
        grid.select("hour", "sku_id")
        .join(promoted.select("sku_id", "starts_at", "ends_at"), on="sku_id")
        .filter((pl.col("hour") >= pl.col("starts_at")) & (pl.col("hour") < pl.col("ends_at")))
        .select("hour", "sku_id")
        .unique()
    )
    usual = grid.join(hit, on=["hour", "sku_id"], how="anti").join(
        sku_units.select("hour", "sku_id", "units"), on=["hour", "sku_id"], how="left"
    )
    rates = usual.group_by("sku_id").agg(
        rate=pl.col("units").fill_null(0).sum() / pl.col("shape").sum()
    )
    return shape, rates


def promo_sales(
    sku_units: pl.DataFrame,
    promotions: pl.DataFrame,
    items: pl.DataFrame,
    rates: pl.DataFrame,
    shape: pl.DataFrame,
    as_of: datetime,
    tz: str,
    *,
    velocity_hours: int = 6,
) -> pl.DataFrame:
    """Per (SKU, running promotion): units paid in its last `velocity_hours` hours (or since
    it started, if later) before `as_of`, and the units its usual rate would have sold in
    those hours (`usual`): recent sales, so a launch surge that fades is not projected on."""
    as_of = as_of.astimezone(UTC)
    local = pl.col("hour").dt.convert_time_zone(tz)
    running = _promoted_hours(promotions, items).filter(
        (pl.col("starts_at") < as_of) & (pl.col("ends_at") > as_of)
    )
    since = pl.max_horizontal(
        pl.col("starts_at"), pl.lit(as_of - timedelta(hours=velocity_hours), dtype=TS)
    )
    hours = (
        running.with_columns(since=since)
        .with_columns(
            n=((pl.lit(as_of, dtype=TS) - pl.col("since")).dt.total_seconds() / 3600)
            .ceil()
            .cast(pl.Int64)
        )
        .with_columns(step=pl.int_ranges(0, "n"))
        .explode("step")
        .with_columns(hour=pl.col("since") + pl.duration(hours=pl.col("step")))
        .filter(pl.col("hour") < as_of)
        .with_columns(hod=local.dt.hour())
        .join(shape, on="hod", how="left")
        .join(rates, on="sku_id", how="left")
        .join(sku_units.select("hour", "sku_id", "units"), on=["hour", "sku_id"], how="left")
    )
    return hours.group_by("sku_id", "promo_id").agg(
        units=pl.col("units").fill_null(0).sum().cast(pl.Float64),
        usual=(pl.col("rate").fill_null(0.0) * pl.col("shape").fill_null(1.0)).sum(),
    )


def _projection(
    candidates: pl.DataFrame, shape: pl.DataFrame, as_of: datetime, tz: str
) -> pl.DataFrame:
    """Expected demand per future hour from `as_of` to each promotion's end, cumulated."""
    horizon = candidates.select(
        "sku_id",
        "promo_id",
        hours=((pl.col("promo_ends_at") - pl.lit(as_of, dtype=TS)).dt.total_seconds() / 3600)
        .ceil()
        .cast(pl.Int64)
        .clip(1, None),
    )
    local = pl.col("at").dt.convert_time_zone(tz)
    steps = (
        horizon.with_columns(step=pl.int_ranges(0, "hours"))
        .explode("step")
        .with_columns(at=pl.lit(as_of, dtype=TS) + pl.duration(hours=pl.col("step")))
        .with_columns(hod=local.dt.hour())
        .join(shape, on="hod", how="left")
        .join(
            candidates.select(
                "sku_id", "promo_id", "rate", "uplift", "promo_starts_at", "promo_ends_at"
            ),
            on=["sku_id", "promo_id"],
        )
        .with_columns(
            # the last step may be a part of an hour
            fraction=pl.min_horizontal(
                pl.lit(1.0),
                (pl.col("promo_ends_at") - pl.col("at")).dt.total_seconds() / 3600,
            ),
            boost=pl.when(pl.col("at") >= pl.col("promo_starts_at"))
            .then(pl.col("uplift"))
            .otherwise(1.0),
        )
        .with_columns(
            demand=pl.col("rate")
            * pl.col("shape").fill_null(1.0)
            * pl.col("boost")
            * pl.col("fraction")
        )
        .sort("sku_id", "promo_id", "step")
        .with_columns(cumulative=pl.col("demand").cum_sum().over("sku_id", "promo_id"))
    )
    return steps


def low_stock_promo(
    stock: pl.DataFrame,
    products: pl.DataFrame,
    promotions: pl.DataFrame,
    items: pl.DataFrame,
    rates: pl.DataFrame,
    shape: pl.DataFrame,
    promo_sales: pl.DataFrame,
    as_of: datetime,
    tz: str,
    *,
    lookahead_hours: int = 24,
    min_cover_hours: float = 2.0,
    uplift: Mapping[str, float] | None = None,
) -> pl.DataFrame:
    """One row per (SKU, promotion) at risk at `as_of` (the end of the evaluated hour).

    `stock`: available_stock(); `products`: sku_id, safety_stock; `promotions`/`items`: the
    promotions known at as_of with their SKUs; `rates`/`shape`: demand_rates();
    `promo_sales`: (sku_id, promo_id, units, usual) units paid since each running
    promotion started and the usual demand of those hours (rate × shape).
    """
    as_of = as_of.astimezone(UTC)
    priors = {**DEFAULT_UPLIFT, **(uplift or {})}
    horizon = as_of + timedelta(hours=lookahead_hours)
    running = (
        items.select("promo_id", "sku_id", "promo_price")
        .join(promotions.select("promo_id", "kind", "starts_at", "ends_at"), on="promo_id")
        .filter((pl.col("starts_at") <= horizon) & (pl.col("ends_at") > as_of))
        .rename({"kind": "promo_kind", "starts_at": "promo_starts_at", "ends_at": "promo_ends_at"})
    )
    if running.is_empty():
        return pl.DataFrame(schema=LOW_STOCK_CANDIDATE_SCHEMA)
    prior = pl.col("promo_kind").replace_strict(priors, default=1.0, return_dtype=pl.Float64)
    base = (
        running.join(stock.select("sku_id", "available"), on="sku_id", how="inner")
        .join(products.select("sku_id", "safety_stock"), on="sku_id", how="left")
        .join(rates, on="sku_id", how="left")
        .join(promo_sales, on=["sku_id", "promo_id"], how="left")
        .with_columns(
            rate=pl.col("rate").fill_null(0.0),
            safety_stock=pl.col("safety_stock").fill_null(0).cast(pl.Int64),
            prior=prior,
        )
        .with_columns(
            pseudo=pl.col("rate") * PRIOR_HOURS,
        )
        .with_columns(
            # observed uplift, shrunk toward the prior by PRIOR_HOURS of usual sales
            uplift=pl.when(pl.col("usual").fill_null(0) > 0)
            .then(
                (pl.col("units").fill_null(0) + pl.col("prior") * pl.col("pseudo"))
                / (pl.col("usual").fill_null(0) + pl.col("pseudo"))
            )
            .otherwise(pl.col("prior"))
        )
    )
    steps = _projection(base, shape, as_of, tz)
    crossing = (
        steps.join(base.select("sku_id", "promo_id", "available"), on=["sku_id", "promo_id"])
        .filter(pl.col("cumulative") >= pl.col("available"))
        .group_by("sku_id", "promo_id")
        .agg(
            first=pl.col("step").min(),
            before=(pl.col("cumulative") - pl.col("demand")).sort_by("step").first(),
            demand=pl.col("demand").sort_by("step").first(),
        )
    )
    totals = steps.group_by("sku_id", "promo_id").agg(
        demand_to_end=pl.col("demand").sum(),
        velocity_per_hour=pl.col("demand").first(),
    )
    cover = (
        pl.when(pl.col("available") <= 0)
        .then(0.0)
        .when(pl.col("first").is_not_null())
        .then(
            pl.col("first")
            + (pl.col("available") - pl.col("before")) / pl.col("demand").clip(1e-9, None)
        )
        .otherwise(None)
    )
    out = (
        base.join(totals, on=["sku_id", "promo_id"], how="left")
        .join(crossing, on=["sku_id", "promo_id"], how="left")
        .with_columns(hours_of_cover=cover)
        .with_columns(
            projected_stockout_at=pl.lit(as_of, dtype=TS)
            + pl.duration(
                microseconds=(pl.col("hours_of_cover") * 3_600_000_000).round().cast(pl.Int64)
            ),
            shortfall=(pl.col("demand_to_end") - pl.col("available")).clip(0.0, None),
        )
    )
    sells_out = pl.col("projected_stockout_at") < pl.col("promo_ends_at")
    low = pl.col("available") <= pl.col("safety_stock")
    out = out.filter(sells_out.fill_null(False) | low).with_columns(
        severity=pl.when((pl.col("available") <= 0) | (pl.col("hours_of_cover") < min_cover_hours))
        .then(pl.lit("critical"))
        .otherwise(pl.lit("warning")),
        reason=pl.when(pl.col("available") <= 0)
        .then(pl.lit("out_of_stock"))
        .when(sells_out.fill_null(False))
        .then(pl.lit("sells_out_before_end"))
        .otherwise(pl.lit("at_or_below_safety_stock")),
    )
    return out.select([pl.col(c).cast(t) for c, t in LOW_STOCK_CANDIDATE_SCHEMA.items()]).sort(
        "promo_id", "sku_id"
    )
