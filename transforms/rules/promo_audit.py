"""promo_audit: the registration checklist of `shoppulse promo check` (price including
postage, the 90-day low, committed stock against what is free of the other promotions'
commitments, full-reduction threshold consistency, and the price floor when configured) run
every hour on the promotions already registered. One alert per promotion, naming each
failing SKU and the checks it fails. The checks live in `transforms.promo_check`, shared
with the command; `transforms.promo_audit` applies them to the registered promotions."""

from __future__ import annotations

from typing import Any

import polars as pl
from pydantic import Field

from transforms.promo_audit import promo_audit
from transforms.rules.base import Candidate, Context, Rule, RuleSettings
from transforms.rules.words import is_zh

__all__ = ["ALERTNAME", "RULE", "PromoAuditSettings"]

ALERTNAME = "promo_audit"
# lines of the root cause before "… and N more"
MAX_LINES = 20
# SKUs named in the summary
SUMMARY_SKUS = 3


class PromoAuditSettings(RuleSettings):
    """`rules.promo_audit`: the lowest promo price allowed, as a share of the list price."""

    price_floor_ratio: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="a promo price below this share of the list price is flagged",
    )


def evaluate(ctx: Context) -> list[Candidate]:
    """One candidate per promotion known at the hour's end with a failing SKU."""
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
    return [
        _candidate(promo_id, rows, locale=ctx.locale)
        for (promo_id,), rows in found.group_by("promo_id", maintain_order=True)
    ]


_CHECK_WORDS = {
    "en": {},
    "zh-CN": {
        "postage_included": "含邮费",
        "price_90d_low": "不低于90天最低价",
        "committed_stock": "承诺库存",
        "full_reduction": "满减门槛",
        "main_image_qr": "主图二维码",
        "price_floor": "价格下限",
    },
}


def _candidate(promo_id: Any, rows: pl.DataFrame, *, locale: str = "en") -> Candidate:
    """promo_audit for one promotion: which check failed for which SKU, and why."""
    zh = is_zh(locale)
    words: dict[str, str] = _CHECK_WORDS["zh-CN" if zh else "en"]
    by_sku: dict[str, list[str]] = {}
    lines = []
    for sku, check, detail in rows.select("sku_id", "check", "detail").iter_rows():
        by_sku.setdefault(str(sku), []).append(str(check))
        lines.append(f"{sku} {words.get(check, check)}: {detail}")
    if len(lines) > MAX_LINES:
        more = len(lines) - MAX_LINES
        lines = [*lines[:MAX_LINES], f"… 另有 {more} 项" if zh else f"… and {more} more"]
    named = "; ".join(
        f"{sku} {', '.join(words.get(c, c) for c in checks)}"
        for sku, checks in list(by_sku.items())[:SUMMARY_SKUS]
    )
    if len(by_sku) > SUMMARY_SKUS:
        named += f" (+{len(by_sku) - SUMMARY_SKUS})"
    checks = sorted({c for cs in by_sku.values() for c in cs})
    if zh:
        summary = f"活动 {promo_id} 报名检查未通过 {len(by_sku)} 个 SKU：{named}"
        action = "活动开始前修改活动价、门槛或承诺数量。"
    else:
        summary = f"Promotion {promo_id}: {len(by_sku)} SKU(s) fail the checklist: {named}"
        action = "Fix the promotion price, threshold or committed quantity before it starts."
    annotations = {
        "summary": summary,
        "description": str(rows.item(0, "promo_name") or ""),
        "value": str(len(by_sku)),
        "baseline": "",
        "unit": "count",
        "action": action,
        "root_cause": "\n".join(lines),
        "reasons": ",".join(checks),
        "failed_checks": "; ".join(f"{sku}: {','.join(cs)}" for sku, cs in by_sku.items()),
    }
    severity = "critical" if "full_reduction" in checks else "warning"
    return Candidate(ALERTNAME, severity, {"promo_id": str(promo_id)}, annotations)


RULE = Rule(
    alertname=ALERTNAME,
    title={"en": "Promotion settings audit", "zh-CN": "活动设置风险"},
    settings=PromoAuditSettings,
    reads=(),
    evaluate=evaluate,
    doc=__doc__ or "",
)
