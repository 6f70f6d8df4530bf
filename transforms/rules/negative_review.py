"""negative_review: a new 1-2 star review, to be handled within its 48-hour golden window
(apologise privately, offer a remedy, reply in public). It escalates when still unanswered at
24 h, goes critical 6 h before the window closes, and resolves once the shop has replied."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from pydantic import Field

from transforms.rules.base import Candidate, Context, Rule, RuleSettings
from transforms.rules.reviews import READ, recent_reviews
from transforms.rules.words import is_zh, local_time

__all__ = ["ALERTNAME", "RULE", "NegativeReviewSettings", "open_negative_reviews"]

ALERTNAME = "negative_review"
Row = Mapping[str, Any]


class NegativeReviewSettings(RuleSettings):
    """`rules.negative_review`: which ratings count and the golden window's milestones."""

    max_rating: int = Field(
        default=2, ge=1, le=4, description="highest rating that counts as negative"
    )
    window_hours: int = Field(
        default=48, ge=1, description="the golden window to handle a negative review in"
    )
    escalate_hours: int = Field(
        default=24, ge=1, description="hours unanswered after which it escalates to warning"
    )
    critical_before_close_hours: int = Field(
        default=6, ge=0, description="hours before the window closes when it goes critical"
    )


def open_negative_reviews(
    reviews: pl.DataFrame,
    as_of: datetime,
    *,
    max_rating: int = 2,
    window_hours: int = 48,
    escalate_hours: int = 24,
    critical_before_close_hours: int = 6,
) -> pl.DataFrame:
    """Negative reviews still unanswered at `as_of` inside their window, with their age,
    deadline and severity (info when new, warning from `escalate_hours`, critical near
    the close)."""
    window = timedelta(hours=window_hours)
    age = (pl.lit(as_of) - pl.col("created_at")).dt.total_seconds() / 3600
    return (
        reviews.filter(
            (pl.col("rating") <= max_rating)
            & pl.col("replied_at").is_null()
            & (pl.col("created_at") < as_of)
            & (pl.col("created_at") + window > as_of)
        )
        .with_columns(age_hours=age, deadline=pl.col("created_at") + window)
        .with_columns(
            left_hours=window_hours - pl.col("age_hours"),
            severity=pl.when(pl.col("age_hours") >= window_hours - critical_before_close_hours)
            .then(pl.lit("critical"))
            .when(pl.col("age_hours") >= escalate_hours)
            .then(pl.lit("warning"))
            .otherwise(pl.lit("info")),
        )
        .sort("created_at", "review_id")
    )


def evaluate(ctx: Context) -> list[Candidate]:
    """Every negative review of the last window still waiting for the shop's reply."""
    settings: NegativeReviewSettings = ctx.rules.of(ALERTNAME)
    h = ctx.hour
    reviews = recent_reviews(ctx, settings.window_hours)
    found = open_negative_reviews(
        reviews,
        h.end,
        max_rating=settings.max_rating,
        window_hours=settings.window_hours,
        escalate_hours=settings.escalate_hours,
        critical_before_close_hours=settings.critical_before_close_hours,
    )
    return [_candidate(row, h.zone, locale=ctx.locale) for row in found.to_dicts()]


def _candidate(row: Row, tz: Any, *, locale: str = "en") -> Candidate:
    """negative_review for one review, its deadline in the shop's time."""
    left = max(0.0, float(row["left_hours"]))
    deadline = local_time(row["deadline"], tz)
    text = str(row["text"] or "")[:80]
    if is_zh(locale):
        summary = f"{row['rating']} 星差评 {row['sku_id']}：{text}"
        description = (
            f"买家 {row['buyer_id']}（订单 {row['order_id']}）的差评已 {row['age_hours']:.0f} 小时"
            f"未回复；黄金处理期 {deadline} 截止（剩 {left:.0f} 小时）。"
        )
        action = "私信致歉并提出补偿方案，然后公开回复。"
    else:
        summary = f"{row['rating']}-star review on {row['sku_id']}: {text}"
        description = (
            f"Review by {row['buyer_id']} (order {row['order_id']}) unanswered for"
            f" {row['age_hours']:.0f} h; its golden window closes {deadline} ({left:.0f} h left)."
        )
        action = "Apologise privately, offer a remedy, then reply in public."
    annotations = {
        "summary": summary,
        "description": description,
        "value": str(row["rating"]),
        "baseline": "",
        "unit": "",
        "action": action,
        "sku_id": str(row["sku_id"]),
        "deadline": row["deadline"].isoformat(),
    }
    labels = {"review_id": str(row["review_id"])}
    return Candidate(ALERTNAME, str(row["severity"]), labels, annotations)


RULE = Rule(
    alertname=ALERTNAME,
    title={"en": "Negative review", "zh-CN": "差评待处理"},
    settings=NegativeReviewSettings,
    reads=(READ,),
    evaluate=evaluate,
    doc=__doc__ or "",
)
