"""promo_audit: the registration checklist of `shoppulse promo check`, run on the promotions
already registered.

Each promotion known at `as_of` that has not ended is checked as a registration of its own
items by `transforms.promo_check.registration_checks` (the one check function both use),
against the promotions whose time overlaps it. Three things differ from a sheet: no postage
and no main image are stored, so those checks skip (the QR check applies only where an image
path exists); an inconsistent full-reduction threshold is reported once, on that full
reduction, not again on every promotion sharing its SKUs; and once a promotion runs, its
committed stock is no longer judged (`low_stock_promo` watches a running promotion's stock).
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from transforms.promo_check import registration_checks, registration_of

__all__ = ["PROMO_AUDIT_SCHEMA", "promo_audit"]

TS = pl.Datetime("us", "UTC")

PROMO_AUDIT_SCHEMA: dict[str, pl.DataType] = {
    "promo_id": pl.String(),
    "promo_name": pl.String(),
    "promo_kind": pl.String(),
    "promo_starts_at": TS,
    "sku_id": pl.String(),
    "check": pl.String(),
    "detail": pl.String(),
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
    """One row per failed check of a live promotion's SKU (PROMO_AUDIT_SCHEMA).

    `promotions`: promo_id, name, kind, starts_at, ends_at, threshold_amount,
    discount_amount; `items`: promo_id, sku_id, promo_price, stock_commitment; `products`:
    sku_id, list_price, lowest_price_90d (null where unknown at as_of); `stock`: sku_id,
    available.
    """
    as_of = as_of.astimezone(UTC)
    live = promotions.filter(pl.col("ends_at") > as_of)
    found = [pl.DataFrame(schema=PROMO_AUDIT_SCHEMA)]
    for promo in live.sort("promo_id").iter_rows(named=True):
        own = items.filter(pl.col("promo_id") == promo["promo_id"])
        if own.is_empty():
            continue
        overlapping = live.filter(
            (pl.col("starts_at") < promo["ends_at"]) & (pl.col("ends_at") > promo["starts_at"])
        )
        checks = registration_checks(
            registration_of(own),
            products,
            stock,
            overlapping,
            items,
            promo_id=promo["promo_id"],
            price_floor_ratio=price_floor_ratio,
            own_thresholds_only=True,
        ).filter(pl.col("status") == "fail")
        if promo["starts_at"] <= as_of:
            checks = checks.filter(pl.col("check") != "committed_stock")
        found.append(
            checks.select(
                promo_id=pl.lit(promo["promo_id"], dtype=pl.String),
                promo_name=pl.lit(promo["name"], dtype=pl.String),
                promo_kind=pl.lit(promo["kind"], dtype=pl.String),
                promo_starts_at=pl.lit(promo["starts_at"], dtype=TS),
                sku_id="sku_id",
                check="check",
                detail="detail",
            )
        )
    return pl.concat(found).sort("promo_id", "sku_id", "check")
