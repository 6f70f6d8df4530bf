"""review_attack: several negative reviews of one SKU within a few hours that share hashed
IPs/devices, or come from buyers with no paid order: a wave of malicious reviews to report
to the platform. The message carries the evidence list the platform asks for."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from pydantic import Field

from transforms.rules.base import Candidate, Context, Rule, RuleSettings
from transforms.rules.reviews import READ, recent_reviews
from transforms.rules.words import is_zh, local_time

__all__ = ["ALERTNAME", "RULE", "ReviewAttackSettings", "review_attack"]

ALERTNAME = "review_attack"
Row = Mapping[str, Any]
# evidence lines carried in the message; the count says how many there are in all
EVIDENCE_LINES = 20
EVIDENCE_FIELDS = (
    "review_id",
    "buyer_id",
    "order_id",
    "ip_hash",
    "created_at",
    "rating",
    "shared_ip",
    "no_order",
)


class ReviewAttackSettings(RuleSettings):
    """`rules.review_attack`: how many suspicious negative reviews in how many hours."""

    window_hours: int = Field(
        default=6, ge=1, le=72, description="hours of negative reviews looked at together"
    )
    min_reviews: int = Field(
        default=5, ge=2, description="least suspicious negative reviews of one SKU to alert"
    )
    max_rating: int = Field(
        default=2, ge=1, le=4, description="highest rating that counts as negative"
    )


def review_attack(
    reviews: pl.DataFrame, as_of: datetime, *, window_hours: int, min_reviews: int, max_rating: int
) -> pl.DataFrame:
    """Per SKU, the suspicious negative reviews of the window, when there are enough.

    A review is suspicious when its IP/device hash is shared by another negative review in
    the window, or its buyer had no paid order. One row per SKU, with the evidence list."""
    negative = reviews.filter(
        (pl.col("rating") <= max_rating)
        & (pl.col("created_at") >= as_of - timedelta(hours=window_hours))
        & (pl.col("created_at") < as_of)
    )
    shared = pl.len().over("ip_hash") >= 2
    flagged = negative.with_columns(
        shared_ip=pl.col("ip_hash").is_not_null() & shared,
        no_order=~pl.col("buyer_paid"),
    ).filter(pl.col("shared_ip") | pl.col("no_order"))
    return (
        flagged.sort("created_at", "review_id")
        .group_by("sku_id", maintain_order=True)
        .agg(
            reviews=pl.len(),
            shared_ips=pl.col("ip_hash").filter(pl.col("shared_ip")).n_unique(),
            no_order=pl.col("no_order").sum(),
            first_at=pl.col("created_at").min(),
            evidence=pl.struct(EVIDENCE_FIELDS),
        )
        .filter(pl.col("reviews") >= min_reviews)
        .sort("sku_id")
    )


def evaluate(ctx: Context) -> list[Candidate]:
    """Suspicious negative reviews of the window per SKU."""
    settings: ReviewAttackSettings = ctx.rules.of(ALERTNAME)
    h = ctx.hour
    reviews = recent_reviews(ctx, settings.window_hours)
    found = review_attack(
        reviews,
        h.end,
        window_hours=settings.window_hours,
        min_reviews=settings.min_reviews,
        max_rating=settings.max_rating,
    )
    return [
        _candidate(row, h.zone, settings.window_hours, locale=ctx.locale)
        for row in found.to_dicts()
    ]


def _evidence_line(e: Row, tz: Any, zh: bool) -> str:
    why = []
    if e["shared_ip"]:
        why.append("共用IP/设备" if zh else "shared IP/device")
    if e["no_order"]:
        why.append("无支付订单" if zh else "no paid order")
    return (
        f"{e['review_id']} {local_time(e['created_at'], tz)} {e['rating']}★"
        f" buyer={e['buyer_id']} order={e['order_id']} ip={e['ip_hash']} ({', '.join(why)})"
    )


def _candidate(row: Row, tz: Any, window_hours: int, *, locale: str = "en") -> Candidate:
    """review_attack for one SKU, with the evidence list."""
    zh = is_zh(locale)
    evidence = [_evidence_line(e, tz, zh) for e in row["evidence"]]
    shown = "\n".join(evidence[:EVIDENCE_LINES])
    if zh:
        summary = f"疑似恶意差评 {row['sku_id']}：{window_hours} 小时内 {row['reviews']} 条可疑差评"
        description = (
            f"{row['shared_ips']} 个 IP/设备被多条差评共用，"
            f"{row['no_order']} 条来自无支付订单的买家。"
        )
        action = "保存证据，向平台提交恶意评价投诉（附下列评价编号、时间、买家和 IP 哈希）。"
    else:
        summary = (
            f"Possible review attack on {row['sku_id']}: {row['reviews']} suspicious negative"
            f" reviews in {window_hours} h"
        )
        description = (
            f"{row['shared_ips']} IP/device hashes shared between negative reviews;"
            f" {row['no_order']} reviews by buyers with no paid order."
        )
        action = (
            "Keep the evidence and report the reviews to the platform as malicious"
            " (review ids, times, buyers and IP hashes below)."
        )
    annotations = {
        "summary": summary,
        "description": description,
        "value": str(row["reviews"]),
        "baseline": "",
        "unit": "",
        "action": action,
        "root_cause": shown,
        "evidence_count": str(len(evidence)),
    }
    return Candidate(ALERTNAME, "critical", {"sku_id": str(row["sku_id"])}, annotations)


RULE = Rule(
    alertname=ALERTNAME,
    title={"en": "Review attack", "zh-CN": "疑似恶意差评"},
    settings=ReviewAttackSettings,
    reads=(READ,),
    evaluate=evaluate,
    doc=__doc__ or "",
)
