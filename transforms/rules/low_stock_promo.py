"""low_stock_promo: a promoted SKU is out of stock, at safety stock, or will sell out before
its promotion ends. The demand model lives in `transforms.stockout`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from pydantic import Field

from transforms.rules.base import Candidate, Context, Rule, RuleSettings, utc
from transforms.rules.words import is_zh, local_time, num
from transforms.stockout import demand_rates, low_stock_promo, promo_sales

__all__ = ["ALERTNAME", "DEMAND_DAYS", "RULE", "LowStockPromoSettings"]

ALERTNAME = "low_stock_promo"
# how far back sales are read for a SKU's usual demand
DEMAND_DAYS = 14
Row = Mapping[str, Any]


class LowStockPromoSettings(RuleSettings):
    """`rules.low_stock_promo`: how far ahead to look and how much cover is too little."""

    lookahead_hours: int = Field(
        default=24, ge=0, description="watch promotions that start within this many hours"
    )
    min_cover_hours: float = Field(
        default=2.0, ge=0, description="fewer hours of stock cover than this is critical"
    )
    velocity_hours: int = Field(
        default=6, ge=1, description="recent hours whose sales set a running promotion's velocity"
    )
    # expected sales multiplier per promotion kind before a promotion's own sales are seen
    # (transforms.stockout.DEFAULT_UPLIFT fills the kinds not given)
    uplift: dict[str, float] = Field(
        default_factory=dict,
        description="expected sales multiplier per promotion kind before its own sales are seen",
    )


def evaluate(ctx: Context) -> list[Candidate]:
    """Promoted SKUs, running or starting within the lookahead, short of stock."""
    settings: LowStockPromoSettings = ctx.rules.of(ALERTNAME)
    h, shared = ctx.hour, ctx.shared
    promotions, items = shared.promotions, shared.items
    lookahead = timedelta(hours=settings.lookahead_hours)
    relevant = promotions.filter(
        (pl.col("starts_at") <= h.end + lookahead) & (pl.col("ends_at") > h.end)
    )
    skus = items.join(relevant.select("promo_id"), on="promo_id", how="semi").get_column("sku_id")
    if skus.is_empty():
        return []
    start = h.start - timedelta(days=DEMAND_DAYS)
    sku_units = utc(
        ctx.read(
            "rules_sku_units", {"skus": skus.unique().to_list(), "start": start, "end": h.end}
        ),
        "hour",
    )
    shop = utc(
        ctx.read("rules_kpi_history", {"start": start, "end": h.end, "as_of": h.end}), "hour"
    ).filter(pl.col("source").is_null())
    shape, rates = demand_rates(sku_units, shop, promotions, items, skus, h.tz)
    sales = promo_sales(
        sku_units,
        promotions,
        items,
        rates,
        shape,
        h.end,
        h.tz,
        velocity_hours=settings.velocity_hours,
    )
    found = low_stock_promo(
        shared.stock,
        shared.products,
        relevant,
        items,
        rates,
        shape,
        sales,
        h.end,
        h.tz,
        lookahead_hours=settings.lookahead_hours,
        min_cover_hours=settings.min_cover_hours,
        uplift=settings.uplift,
    )
    return [_candidate(row, h.start, tz=h.zone, locale=ctx.locale) for row in found.to_dicts()]


def _candidate(row: Row, hour: datetime, *, tz: Any, locale: str = "en") -> Candidate:
    """low_stock_promo for one (SKU, promotion)."""
    started = row["promo_starts_at"] <= hour
    sells_out = row["projected_stockout_at"]
    cover = row["hours_of_cover"]
    if is_zh(locale):
        when = (
            "已售罄"
            if row["available"] <= 0
            else f"预计 {local_time(sells_out, tz)} 售罄"
            if sells_out is not None
            else "库存低于安全库存"
        )
        summary = f"活动 {row['promo_id']} 商品 {row['sku_id']} {when}"
        state = "进行中" if started else f"将于 {local_time(row['promo_starts_at'], tz)} 开始"
        description = (
            f"可用库存 {row['available']}，安全库存 {row['safety_stock']}；"
            f"活动{state}，{local_time(row['promo_ends_at'], tz)} 结束；"
            f"预计活动结束前需求 {row['demand_to_end']:.0f}"
            f"（预估提升 {row['uplift']:.1f} 倍）。"
        )
        action = "补货或调拨；或改为预售、限制活动数量/每人限购。"
    else:
        when = (
            "is out of stock"
            if row["available"] <= 0
            else f"sells out around {local_time(sells_out, tz)}"
            if sells_out is not None
            else "is at or below safety stock"
        )
        summary = f"{row['sku_id']} in promotion {row['promo_id']} {when}"
        state = "running" if started else f"starts {local_time(row['promo_starts_at'], tz)}"
        description = (
            f"Available {row['available']}, safety stock {row['safety_stock']}; the promotion"
            f" {state} and ends {local_time(row['promo_ends_at'], tz)}; expected demand to its end"
            f" {row['demand_to_end']:.0f} (uplift {row['uplift']:.1f}x)."
        )
        action = (
            "Restock or transfer stock now; or switch the item to presale, or cap the"
            " promotion quantity / per-buyer limit."
        )
    labels = {"sku_id": str(row["sku_id"]), "promo_id": str(row["promo_id"])}
    price = row["promo_price"] or 0.0
    annotations = {
        "summary": summary,
        "description": description,
        "value": str(row["available"]),
        "baseline": str(row["safety_stock"]),
        "unit": "count",
        "action": action,
        "root_cause": "",
        "hours_of_cover": num(cover, 4),
        "projected_stockout_at": sells_out.isoformat() if sells_out is not None else "",
        "reason": str(row["reason"]),
    }
    return Candidate(
        ALERTNAME,
        str(row["severity"]),
        labels,
        annotations,
        impact=float(row["shortfall"] or 0.0) * float(price),
    )


RULE = Rule(
    alertname=ALERTNAME,
    title={"en": "Low stock during promotion", "zh-CN": "活动商品库存不足"},
    settings=LowStockPromoSettings,
    reads=("rules_sku_units", "rules_kpi_history"),
    evaluate=evaluate,
    doc=__doc__ or "",
)
