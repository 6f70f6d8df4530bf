"""late_shipping: paid orders past their promised ship-by time, or about to be, counted and
priced. Critical during a promotion, when a missed promise costs the most rating."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from pydantic import Field

from transforms.rules.base import Candidate, Context, Rule, RuleSettings, utc
from transforms.rules.words import is_zh, num, pct

__all__ = ["ALERTNAME", "RULE", "LateShippingSettings", "late_shipping"]

ALERTNAME = "late_shipping"
Row = Mapping[str, Any]
# a late order older than this is left to the after-sales process
LOOKBACK = timedelta(days=7)


class LateShippingSettings(RuleSettings):
    """`rules.late_shipping`: how many late or at-risk orders, and what share, alert."""

    at_risk_hours: int = Field(
        default=6,
        ge=1,
        le=48,
        description="unshipped orders due within this many hours count as at risk",
    )
    min_orders: int = Field(default=10, ge=1, description="least late (or at-risk) orders to alert")
    min_share: float = Field(
        default=0.05,
        gt=0,
        le=1,
        description="least share of the orders due that is late (or at risk)",
    )


def late_shipping(
    shipments: pl.DataFrame,
    as_of: datetime,
    *,
    at_risk_hours: int,
    min_orders: int,
    min_share: float,
) -> dict[str, Any] | None:
    """Late and at-risk orders at `as_of` when either is too many, else None.

    Late: promised before `as_of` and not shipped; its share is of the orders due in the
    last 24 h. At risk: due within `at_risk_hours`, not shipped; its share is of those due."""
    risk_end = as_of + timedelta(hours=at_risk_hours)
    promised = pl.col("promised_ship_by")
    open_ = ~pl.col("shipped")
    late = open_ & (promised < as_of)
    at_risk = open_ & (promised >= as_of) & (promised < risk_end)
    row = shipments.select(
        late=late.sum(),
        late_amount=pl.col("amount").filter(late).sum(),
        due_24h=((promised >= as_of - timedelta(hours=24)) & (promised < as_of)).sum(),
        late_24h=(late & (promised >= as_of - timedelta(hours=24))).sum(),
        at_risk=at_risk.sum(),
        at_risk_amount=pl.col("amount").filter(at_risk).sum(),
        due_soon=((promised >= as_of) & (promised < risk_end)).sum(),
        oldest=pl.col("promised_ship_by").filter(late).min(),
    ).row(0, named=True)
    late_share = row["late_24h"] / row["due_24h"] if row["due_24h"] else 0.0
    risk_share = row["at_risk"] / row["due_soon"] if row["due_soon"] else 0.0
    too_late = row["late"] >= min_orders and late_share >= min_share
    too_risky = row["at_risk"] >= min_orders and risk_share >= min_share
    if not (too_late or too_risky):
        return None
    return {
        **row,
        "late_share": late_share,
        "at_risk_share": risk_share,
        "amount": float(row["late_amount"] or 0) + float(row["at_risk_amount"] or 0),
    }


def evaluate(ctx: Context) -> list[Candidate]:
    """Open shipments around the evaluated hour's end."""
    settings: LateShippingSettings = ctx.rules.of(ALERTNAME)
    h = ctx.hour
    shipments = utc(
        ctx.read(
            "rules_open_shipments",
            {
                "start": h.end - LOOKBACK,
                "end": h.end + timedelta(hours=settings.at_risk_hours),
                "as_of": h.end,
            },
        ),
        "promised_ship_by",
    )
    found = late_shipping(
        shipments,
        h.end,
        at_risk_hours=settings.at_risk_hours,
        min_orders=settings.min_orders,
        min_share=settings.min_share,
    )
    if found is None:
        return []
    in_promo = not ctx.running_promotions().is_empty()
    return [_candidate(found, settings.at_risk_hours, in_promo, locale=ctx.locale)]


def _candidate(row: Row, hours: int, in_promo: bool, *, locale: str = "en") -> Candidate:
    """late_shipping for the shop."""
    amount = float(row["amount"])
    if is_zh(locale):
        summary = f"发货超时 {row['late']} 单，{hours} 小时内将超时 {row['at_risk']} 单"
        description = (
            f"近 24 小时应发 {row['due_24h']} 单，超时率 {pct(row['late_share'])}；"
            f"涉及金额 {amount:.0f} 元。"
        )
        action = "优先处理最早承诺的订单；联系仓库确认原因，必要时主动告知买家并补偿。"
    else:
        summary = (
            f"{row['late']} orders past their promised ship-by time, {row['at_risk']} more due"
            f" within {hours} h"
        )
        description = (
            f"{pct(row['late_share'])} of the {row['due_24h']} orders due in the last 24 h are"
            f" late; {amount:.0f} of order value affected."
        )
        action = (
            "Ship the oldest promises first; ask the warehouse what is holding them and tell"
            " the buyers before they complain."
        )
    annotations = {
        "summary": summary,
        "description": description,
        "value": str(row["late"]),
        "baseline": str(row["due_24h"]),
        "unit": "orders",
        "action": action,
        "at_risk": str(row["at_risk"]),
        "amount": num(amount),
    }
    return Candidate(
        ALERTNAME, "critical" if in_promo else "warning", {}, annotations, impact=amount
    )


RULE = Rule(
    alertname=ALERTNAME,
    title={"en": "Late shipping", "zh-CN": "发货超时"},
    settings=LateShippingSettings,
    reads=("rules_open_shipments",),
    evaluate=evaluate,
    doc=__doc__ or "",
)
