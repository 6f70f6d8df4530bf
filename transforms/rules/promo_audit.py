"""promo_audit: promotion settings that will hurt, caught before they do: a promo price under
the 90-day low or a floor, a stock commitment above what is available, an inconsistent
full-reduction threshold. The checks live in `transforms.promo_audit`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from transforms.promo_audit import promo_audit
from transforms.rules.base import Candidate, Context, Rule, RuleSettings
from transforms.rules.words import is_zh, num

__all__ = ["ALERTNAME", "RULE", "PromoAuditSettings"]

ALERTNAME = "promo_audit"
Row = Mapping[str, Any]


class PromoAuditSettings(RuleSettings):
    """`rules.promo_audit`: the lowest promo price allowed, as a share of the list price."""

    price_floor_ratio: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="a promo price below this share of the list price is flagged",
    )


def evaluate(ctx: Context) -> list[Candidate]:
    """Findings for the promotions known at the hour's end and their items."""
    settings: PromoAuditSettings = ctx.rules.of(ALERTNAME)
    shared = ctx.shared
    found = promo_audit(
        shared.promotions,
        shared.items,
        shared.products,
        shared.stock,
        ctx.hour.end,
        price_floor_ratio=settings.price_floor_ratio,
    )
    return [_candidate(row, locale=ctx.locale) for row in found.to_dicts()]


_REASONS = {
    "en": {
        "price_below_90d_low": "promo price {promo_price} under the 90-day low {lowest_price_90d}",
        "price_below_floor": "promo price {promo_price} under the price floor (list {list_price})",
        "commitment_over_stock": "commits {stock_commitment} units, {available} available",
        "threshold_inconsistent": "discount {discount_amount} >= threshold {threshold_amount}",
    },
    "zh-CN": {
        "price_below_90d_low": "活动价 {promo_price} 低于 90 天最低价 {lowest_price_90d}",
        "price_below_floor": "活动价 {promo_price} 低于价格下限（原价 {list_price}）",
        "commitment_over_stock": "承诺 {stock_commitment} 件，可用库存仅 {available} 件",
        "threshold_inconsistent": "优惠 {discount_amount} 不低于门槛 {threshold_amount}",
    },
}


def _candidate(row: Row, *, locale: str = "en") -> Candidate:
    """promo_audit for a promotion (threshold findings) or one of its items."""
    words = _REASONS["zh-CN" if is_zh(locale) else "en"]
    reasons = list(row["reasons"])
    lines = [words[r].format(**{k: row.get(k) for k in row}) for r in reasons]
    sku = row["sku_id"]
    target = f"{row['promo_id']}" + (f" / {sku}" if sku else "")
    if is_zh(locale):
        summary = f"活动设置风险 {target}：{lines[0]}"
        action = "活动开始前修改活动价、门槛或承诺数量。"
    else:
        summary = f"Promotion {target}: {lines[0]}"
        action = "Fix the promotion price, threshold or committed quantity before it starts."
    labels = {"promo_id": str(row["promo_id"])}
    if sku:
        labels["sku_id"] = str(sku)
    annotations = {
        "summary": summary,
        "description": str(row["promo_name"] or ""),
        "value": num(row["promo_price"]) if row["promo_price"] is not None else "",
        "baseline": num(row["lowest_price_90d"]) if row["lowest_price_90d"] is not None else "",
        "unit": "currency" if row["promo_price"] is not None else "",
        "action": action,
        "root_cause": "\n".join(lines),
        "reasons": ",".join(reasons),
    }
    severity = "critical" if "threshold_inconsistent" in reasons else "warning"
    return Candidate(ALERTNAME, severity, labels, annotations)


RULE = Rule(
    alertname=ALERTNAME,
    title={"en": "Promotion settings audit", "zh-CN": "活动设置风险"},
    settings=PromoAuditSettings,
    reads=(),
    evaluate=evaluate,
    doc=__doc__ or "",
)
