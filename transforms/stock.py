"""Stock cover per SKU at an instant (mart.stock_cover): stock on hand against recent sales."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

__all__ = ["STOCK_COVER_SCHEMA", "stock_cover"]

TS = pl.Datetime("us", "UTC")

STOCK_COVER_SCHEMA: dict[str, pl.DataType] = {
    "as_of": TS,
    "sku_id": pl.String(),
    "snapshot_at": TS,
    "available": pl.Int64(),
    "velocity_per_hour": pl.Float64(),
    "hours_of_cover": pl.Float64(),
    "projected_stockout_at": TS,
    "promo_id": pl.String(),
    "promo_starts_at": TS,
    "promo_ends_at": TS,
    "cover_note": pl.String(),
}

NO_SNAPSHOT = "no inventory snapshot"
OUT_OF_STOCK = "out of stock"


def _available(inventory: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    # each SKU's latest snapshot at or before as_of, summed over the warehouses in it
    known = inventory.filter(pl.col("snapshot_at") <= as_of)
    latest = known.group_by("sku_id").agg(pl.col("snapshot_at").max())
    return (
        known.join(latest, on=["sku_id", "snapshot_at"], how="semi")
        .group_by("sku_id", "snapshot_at")
        .agg(available=(pl.col("on_hand") - pl.col("reserved")).sum().cast(pl.Int64))
    )


def _promotion(
    promotions: pl.DataFrame, items: pl.DataFrame, as_of: datetime, lookahead: timedelta
) -> pl.DataFrame:
    # the active promotion that started first, else the next one to start within the lookahead
    return (
        items.select("promo_id", "sku_id")
        .join(promotions.select("promo_id", "starts_at", "ends_at"), on="promo_id")
        .filter((pl.col("starts_at") <= as_of + lookahead) & (pl.col("ends_at") > as_of))
        .sort(pl.col("starts_at") > as_of, "starts_at", "promo_id")
        .group_by("sku_id", maintain_order=True)
        .first()
        .select("sku_id", "promo_id", promo_starts_at="starts_at", promo_ends_at="ends_at")
    )


def stock_cover(
    inventory: pl.DataFrame,
    orders: pl.DataFrame,
    promotions: pl.DataFrame,
    promotion_items: pl.DataFrame,
    as_of: datetime,
    *,
    velocity_hours: int = 24,
    lookahead_hours: int = 24,
) -> pl.DataFrame:
    """How long each SKU's available stock lasts at the sales rate of the last `velocity_hours`.

    available = on_hand - reserved over all warehouses at the SKU's latest snapshot <= as_of;
    velocity_per_hour = units paid in [as_of - velocity_hours, as_of) / velocity_hours;
    hours_of_cover = available / velocity. Covers that cannot be computed are null and
    `cover_note` says why: no sales (cover unbounded), or no snapshot (a promotion SKU the
    inventory export does not list). Out of stock is cover 0, stock-out at as_of.
    """
    as_of = as_of.astimezone(UTC)
    window = timedelta(hours=velocity_hours)
    stock = _available(inventory, as_of)
    promo = _promotion(promotions, promotion_items, as_of, timedelta(hours=lookahead_hours))
    sold = (
        orders.filter(
            pl.col("paid_at").is_not_null()
            & (pl.col("paid_at") >= as_of - window)
            & (pl.col("paid_at") < as_of)
        )
        .group_by("sku_id")
        .agg(units=pl.col("quantity").sum())
    )
    skus = pl.concat([stock.select("sku_id"), promo.select("sku_id")]).unique()
    base = (
        skus.join(stock, on="sku_id", how="left")
        .join(promo, on="sku_id", how="left")
        .join(sold, on="sku_id", how="left")
        .with_columns(velocity_per_hour=pl.col("units").fill_null(0) / velocity_hours)
    )
    missing = pl.col("available").is_null()
    out = pl.col("available") <= 0
    idle = pl.col("velocity_per_hour") == 0
    cover = (
        pl.when(missing | (~out & idle))
        .then(None)
        .when(out)
        .then(0.0)
        .otherwise(pl.col("available") / pl.col("velocity_per_hour"))
    )
    note = (
        pl.when(missing)
        .then(pl.lit(NO_SNAPSHOT))
        .when(out)
        .then(pl.lit(OUT_OF_STOCK))
        .when(idle)
        .then(pl.lit(f"no sales in the last {velocity_hours} h: cover unbounded"))
        .otherwise(None)
    )
    result = base.with_columns(
        as_of=pl.lit(as_of, dtype=TS), hours_of_cover=cover, cover_note=note
    ).with_columns(
        projected_stockout_at=pl.col("as_of")
        + pl.duration(
            microseconds=(pl.col("hours_of_cover") * 3_600_000_000).round().cast(pl.Int64)
        )
    )
    return result.select(
        [pl.col(name).cast(dtype) for name, dtype in STOCK_COVER_SCHEMA.items()]
    ).sort("sku_id")
