"""promo_audit: promotion settings that will hurt, caught before they do.

Per promotion known at `as_of` that has not ended:

- `price_below_90d_low`: a promo price under the product's 90-day lowest price (it resets
  the reference price, and in some markets breaks pricing rules);
- `price_below_floor`: a promo price under `price_floor_ratio` × list price, when set;
- `commitment_over_stock`: more units committed than the SKU has available, before the
  promotion starts (once it runs, low_stock_promo watches the stock);
- `threshold_inconsistent`: a full reduction whose discount is not less than its
  threshold, or a missing or non-positive threshold or discount.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

__all__ = ["PROMO_AUDIT_CANDIDATE_SCHEMA", "promo_audit"]

TS = pl.Datetime("us", "UTC")

PROMO_AUDIT_CANDIDATE_SCHEMA: dict[str, pl.DataType] = {
    "promo_id": pl.String(),
    "sku_id": pl.String(),
    "promo_name": pl.String(),
    "promo_kind": pl.String(),
    "promo_starts_at": TS,
    "reasons": pl.List(pl.String()),
    "promo_price": pl.Float64(),
    "lowest_price_90d": pl.Float64(),
    "list_price": pl.Float64(),
    "stock_commitment": pl.Int64(),
    "available": pl.Int64(),
    "threshold_amount": pl.Float64(),
    "discount_amount": pl.Float64(),
}


def promo_audit(
    promotions: pl.DataFrame,
    items: pl.DataFrame,
    products: pl.DataFrame,
    stock: pl.DataFrame,
    as_of: datetime,
    *,
    price_floor_ratio: float | None = None,
) -> pl.DataFrame:
    """One row per promotion (sku_id null) or promotion item with at least one finding.

    `promotions`: promo_id, name, kind, starts_at, ends_at, threshold_amount,
    discount_amount; `items`: promo_id, sku_id, promo_price, stock_commitment; `products`:
    sku_id, list_price, lowest_price_90d (null where unknown at as_of); `stock`: sku_id,
    available.
    """
    as_of = as_of.astimezone(UTC)
    live = promotions.filter(pl.col("ends_at") > as_of)
    threshold, discount = pl.col("threshold_amount"), pl.col("discount_amount")
    inconsistent = (pl.col("kind") == "full_reduction") & (
        threshold.is_null()
        | discount.is_null()
        | (threshold <= 0)
        | (discount <= 0)
        | (discount >= threshold)
    )
    promo_rows = live.filter(inconsistent).select(
        "promo_id",
        sku_id=pl.lit(None, dtype=pl.String),
        promo_name="name",
        promo_kind="kind",
        promo_starts_at="starts_at",
        reasons=pl.lit(["threshold_inconsistent"], dtype=pl.List(pl.String())),
        promo_price=pl.lit(None, dtype=pl.Float64),
        lowest_price_90d=pl.lit(None, dtype=pl.Float64),
        list_price=pl.lit(None, dtype=pl.Float64),
        stock_commitment=pl.lit(None, dtype=pl.Int64),
        available=pl.lit(None, dtype=pl.Int64),
        threshold_amount="threshold_amount",
        discount_amount="discount_amount",
    )
    # a full reduction's items carry list prices, not promotion prices: no price checks
    priced = (
        items.join(
            live.filter(pl.col("kind") != "full_reduction").select(
                "promo_id", "name", "kind", "starts_at"
            ),
            on="promo_id",
        )
        .join(products.select("sku_id", "list_price", "lowest_price_90d"), on="sku_id", how="left")
        .join(stock.select("sku_id", "available"), on="sku_id", how="left")
    )
    floor = (
        pl.col("promo_price") < pl.col("list_price") * price_floor_ratio
        if price_floor_ratio is not None
        else pl.lit(False)
    )
    checks = {
        "price_below_90d_low": pl.col("promo_price") < pl.col("lowest_price_90d"),
        "price_below_floor": floor,
        "commitment_over_stock": (pl.col("starts_at") > as_of)
        & (pl.col("stock_commitment") > pl.col("available")),
    }
    flagged = (
        priced.with_columns(
            reasons=pl.concat_list(
                [
                    pl.when(check.fill_null(False)).then(pl.lit(name)).otherwise(None)
                    for name, check in checks.items()
                ]
            ).list.drop_nulls()
        )
        .filter(pl.col("reasons").list.len() > 0)
        .select(
            "promo_id",
            "sku_id",
            promo_name="name",
            promo_kind="kind",
            promo_starts_at="starts_at",
            reasons="reasons",
            promo_price="promo_price",
            lowest_price_90d="lowest_price_90d",
            list_price="list_price",
            stock_commitment="stock_commitment",
            available="available",
            threshold_amount=pl.lit(None, dtype=pl.Float64),
            discount_amount=pl.lit(None, dtype=pl.Float64),
        )
    )
    schema = PROMO_AUDIT_CANDIDATE_SCHEMA
    parts = [
        f.select([pl.col(c).cast(t) for c, t in schema.items()]) for f in (promo_rows, flagged)
    ]
    return pl.concat(parts).sort("promo_id", "sku_id", nulls_last=False)
