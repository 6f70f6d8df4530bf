"""The campaign registration checklist: each SKU of a registration sheet against the rules a
platform rejects a registration for, before it is submitted.

- `postage_included`: the campaign price must include postage (no postage charged on top);
- `price_90d_low`: the campaign price must not be under the product's 90-day low;
- `committed_stock`: the committed units must be there: available stock less what the
  shop's other live promotions have already committed;
- `full_reduction`: a live full reduction over the SKU must be consistent (its discount
  under its threshold) and must not stack the campaign price under the 90-day low;
- `main_image_qr`: the main image must not contain a QR code (found by the image reader
  before this step; its findings arrive as the `qr` and `image_error` columns; skipped where
  the row has no image, as a promotion already in the warehouse has none);
- `price_floor`: only with `rules.promo_audit.price_floor_ratio` set, the campaign price must
  not be under that share of the list price.

`shoppulse promo check` runs these on a sheet or a registered promotion, and the
`promo_audit` rule runs the same function on every registered promotion each hour.
"""

from __future__ import annotations

import polars as pl

__all__ = [
    "CHECKS",
    "FLOOR_CHECK",
    "PROMO_CHECK_SCHEMA",
    "SHEET_COLUMNS",
    "registration_checks",
    "registration_of",
]

SHEET_COLUMNS = ("sku_id", "campaign_price", "postage", "committed_stock", "main_image")
CHECKS = ("postage_included", "price_90d_low", "committed_stock", "full_reduction", "main_image_qr")
FLOOR_CHECK = "price_floor"

PROMO_CHECK_SCHEMA: dict[str, pl.DataType] = {
    "sku_id": pl.String(),
    "check": pl.String(),
    "status": pl.String(),
    "detail": pl.String(),
}


def _money(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"


def registration_of(items: pl.DataFrame) -> pl.DataFrame:
    """A registered promotion's items (sku_id, promo_price, stock_commitment) as a sheet:
    no postage and no main image are known for them, so those checks skip."""
    return items.select(
        pl.col("sku_id"),
        campaign_price=pl.col("promo_price").cast(pl.Float64),
        postage=pl.lit(None, dtype=pl.Float64),
        committed_stock=pl.col("stock_commitment").fill_null(0).cast(pl.Int64),
        main_image=pl.lit(None, dtype=pl.String),
        qr=pl.lit(None, dtype=pl.Boolean),
        image_error=pl.lit(None, dtype=pl.String),
    )


def registration_checks(
    sheet: pl.DataFrame,
    products: pl.DataFrame,
    stock: pl.DataFrame,
    promotions: pl.DataFrame,
    items: pl.DataFrame,
    *,
    promo_id: str | None = None,
    price_floor_ratio: float | None = None,
    own_thresholds_only: bool = False,
) -> pl.DataFrame:
    """One row per sheet SKU and check: status `pass`, `fail` or `skip`, and why.

    `sheet`: SHEET_COLUMNS plus `qr` (bool, null when not looked at) and `image_error`;
    `products`: sku_id, lowest_price_90d (and list_price for the floor); `stock`: sku_id,
    available; `promotions`: the live ones (promo_id, kind, threshold_amount,
    discount_amount); `items`: their promo_id, sku_id, stock_commitment. `promo_id` is the
    promotion being registered: its own commitments are not "other promotions'".
    `own_thresholds_only` leaves another full reduction's inconsistent threshold to that
    promotion's own audit (the hourly audit reports it once, not on every promotion it
    overlaps); its stacking under the 90-day low is still judged."""
    others = promotions.filter(pl.col("promo_id") != (promo_id or ""))
    committed = (
        items.join(others.select("promo_id"), on="promo_id", how="semi")
        .group_by("sku_id")
        .agg(committed_elsewhere=pl.col("stock_commitment").fill_null(0).sum())
    )
    reductions = (
        promotions.filter(pl.col("kind") == "full_reduction")
        .join(items.select("promo_id", "sku_id"), on="promo_id")
        .select("sku_id", "promo_id", "threshold_amount", "discount_amount")
    )
    lows = dict(products.select("sku_id", "lowest_price_90d").iter_rows())
    lists = (
        dict(products.select("sku_id", "list_price").iter_rows())
        if price_floor_ratio is not None
        else {}
    )
    available = dict(stock.select("sku_id", "available").iter_rows())
    elsewhere = dict(committed.iter_rows())
    by_sku: dict[str, list[tuple[str, float | None, float | None]]] = {}
    for sku, pid, threshold, discount in reductions.iter_rows():
        by_sku.setdefault(sku, []).append((pid, threshold, discount))
    rows: list[tuple[str, str, str, str]] = []
    for r in sheet.iter_rows(named=True):
        sku = str(r["sku_id"])
        price, postage, units = r["campaign_price"], r["postage"], r["committed_stock"]
        low = lows.get(sku)
        # postage
        if postage is None:
            rows.append((sku, "postage_included", "skip", "postage not given"))
        elif postage > 0:
            rows.append(
                (
                    sku,
                    "postage_included",
                    "fail",
                    f"postage {_money(postage)} charged on top: the buyer pays"
                    f" {_money(price + postage)}; put it in the campaign price",
                )
            )
        else:
            rows.append((sku, "postage_included", "pass", "free shipping"))
        # 90-day low
        if sku not in lows:
            rows.append((sku, "price_90d_low", "fail", "unknown SKU: not in the product data"))
        elif low is None:
            rows.append((sku, "price_90d_low", "skip", "no 90-day low known"))
        elif price < low:
            rows.append(
                (
                    sku,
                    "price_90d_low",
                    "fail",
                    f"campaign price {_money(price)} under the 90-day low {_money(low)}",
                )
            )
        else:
            rows.append(
                (sku, "price_90d_low", "pass", f"{_money(price)} >= 90-day low {_money(low)}")
            )
        # stock
        have = available.get(sku)
        taken = int(elsewhere.get(sku, 0))
        if have is None:
            rows.append((sku, "committed_stock", "fail", "no inventory snapshot for the SKU"))
        else:
            free = int(have) - taken
            status = "pass" if units <= free else "fail"
            rows.append(
                (
                    sku,
                    "committed_stock",
                    status,
                    f"commits {units}; {have} available, {taken} committed to other"
                    f" promotions: {free} free",
                )
            )
        # full reduction
        problems = []
        for pid, threshold, discount in by_sku.get(sku, []):
            broken = (
                threshold is None
                or discount is None
                or threshold <= 0
                or discount <= 0
                or discount >= threshold
            )
            if broken and own_thresholds_only and pid != promo_id:
                continue
            if threshold is None or discount is None or threshold <= 0 or discount <= 0:
                problems.append(f"{pid}: threshold or discount missing")
            elif discount >= threshold:
                problems.append(
                    f"{pid}: discount {_money(discount)} >= threshold {_money(threshold)}"
                )
            elif low is not None and price >= threshold and price - discount < low:
                problems.append(
                    f"{pid}: one unit meets the {_money(threshold)} threshold and lands at"
                    f" {_money(price - discount)}, under the 90-day low {_money(low)}"
                )
        if problems:
            rows.append((sku, "full_reduction", "fail", "; ".join(problems)))
        elif sku in by_sku:
            rows.append((sku, "full_reduction", "pass", "consistent"))
        else:
            rows.append((sku, "full_reduction", "pass", "no full reduction over the SKU"))
        # main image
        if r["image_error"]:
            rows.append((sku, "main_image_qr", "fail", str(r["image_error"])))
        elif r["qr"] is None:
            rows.append((sku, "main_image_qr", "skip", "no main image given"))
        elif r["qr"]:
            rows.append((sku, "main_image_qr", "fail", f"QR code in {r['main_image']}"))
        else:
            rows.append((sku, "main_image_qr", "pass", "no QR code"))
        # price floor, when configured
        if price_floor_ratio is not None:
            listed = lists.get(sku)
            if listed is None:
                rows.append((sku, FLOOR_CHECK, "skip", "no list price known"))
            else:
                floor = listed * price_floor_ratio
                status = "fail" if price < floor else "pass"
                rows.append(
                    (
                        sku,
                        FLOOR_CHECK,
                        status,
                        f"campaign price {_money(price)} vs floor {_money(floor)}"
                        f" ({price_floor_ratio:.0%} of list {_money(listed)})",
                    )
                )
    return pl.DataFrame(rows, schema=PROMO_CHECK_SCHEMA, orient="row")
