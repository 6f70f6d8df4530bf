"""cancel_spike: during a promotion, the lines created in the hour are cancelled well above
their usual rate (a wrong full-reduction threshold makes buyers cancel). The
test lives in `transforms.cancellations`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from pydantic import Field

from transforms.cancellations import cancel_replicas, cancel_spike, local_days_back
from transforms.gaps import GAP_READS, known_gaps
from transforms.rules import conversion_drop
from transforms.rules.base import Candidate, Context, Rule, RuleSettings, utc
from transforms.rules.words import is_zh, num, pct

__all__ = ["ALERTNAME", "RULE", "CancelSpikeSettings"]

ALERTNAME = "cancel_spike"
# cancellations of the lines created in the evaluated hour (a spike shows in its first hour)
WINDOW_HOURS = 1
Row = Mapping[str, Any]


class CancelSpikeSettings(RuleSettings):
    """`rules.cancel_spike`: how far above its baseline, and on how many lines, alerts.

    The baseline days and the false-alert budget are conversion_drop's."""

    min_ratio: float = Field(
        default=2.0, gt=1, description="cancel rate must reach this multiple of its baseline"
    )
    min_lines: int = Field(
        default=30, ge=1, description="least order lines created in the hour to judge"
    )


def evaluate(ctx: Context) -> list[Candidate]:
    """The hour's cancel rate against the same hour of the baseline days, during promotions."""
    settings: CancelSpikeSettings = ctx.rules.of(ALERTNAME)
    conversion: conversion_drop.ConversionDropSettings = ctx.rules.of(conversion_drop.ALERTNAME)
    h = ctx.hour
    days = conversion.baseline_days
    running = ctx.running_promotions()
    if running.is_empty():
        return []
    width = timedelta(hours=WINDOW_HOURS)
    starts = [local_days_back(h.end, d, h.tz) - width for d in range(days + 1)]
    lines = utc(
        ctx.read(
            "rules_cancel_lines",
            {"starts": starts, "width": width, "start": min(starts), "end": h.end},
        ),
        "created_at",
        "updated_at",
    )
    # a day whose hour misses its orders or traffic is left out; so is the hour itself
    gaps = known_gaps(ctx.read, min(starts), h.end, h.tz)
    replicas = cancel_replicas(
        lines, h.start, h.tz, baseline_days=days, window_hours=WINDOW_HOURS, gaps=gaps
    )
    found = cancel_spike(
        replicas,
        h.start,
        in_promo=True,
        min_ratio=settings.min_ratio,
        min_lines=settings.min_lines,
        alpha=conversion.alpha,
    )
    return [_candidate(row, locale=ctx.locale) for row in found.to_dicts()]


def _candidate(row: Row, *, locale: str = "en") -> Candidate:
    """cancel_spike for the shop, naming the promotion whose orders are being cancelled."""
    promo = row["top_promo_id"]
    if is_zh(locale):
        summary = (
            f"活动 {promo} 订单取消率 {pct(row['top_promo_rate'])}，为基线的 {row['ratio']:.1f} 倍"
        )
        description = (
            f"本时段活动 {promo} 的 {row['top_promo_lines']} 个订单行中"
            f" {row['top_promo_cancelled']} 个已取消（全店 {pct(row['cancel_rate'])}）；"
            f"基线 {pct(row['baseline_rate'])}（前 {row['baseline_days']} 天同一时段）。"
        )
        action = "检查满减门槛、优惠金额和活动规则是否配置错误；必要时暂停活动。"
        causes = [f"活动 {promo}：{row['top_promo_cancelled']}/{row['top_promo_lines']} 行已取消"]
    else:
        summary = (
            f"Cancel rate {pct(row['top_promo_rate'])} on promotion {promo},"
            f" {row['ratio']:.1f}x its baseline"
        )
        description = (
            f"{row['top_promo_cancelled']} of the {row['top_promo_lines']} order lines of"
            f" {promo} created in the hour are already cancelled (shop-wide"
            f" {pct(row['cancel_rate'])}); baseline {pct(row['baseline_rate'])} (same hour,"
            f" {row['baseline_days']} previous days)."
        )
        action = (
            "Check the full-reduction threshold, discount amount and promotion rules;"
            " pause the promotion if they are wrong."
        )
        causes = [
            f"promotion {promo}: {row['top_promo_cancelled']} of {row['top_promo_lines']}"
            " lines cancelled"
        ]
    annotations = {
        "summary": summary,
        "description": description,
        "value": num(row["top_promo_rate"]),
        "baseline": num(row["baseline_rate"]),
        "unit": "ratio",
        "metric": "cancel_rate",
        "action": action,
        "root_cause": "\n".join(causes),
        "p_value": num(row["p_value"], 3),
        "promo_id": str(promo),
    }
    severity = "critical" if row["ratio"] >= 3 else "warning"
    return Candidate(ALERTNAME, severity, {}, annotations)


RULE = Rule(
    alertname=ALERTNAME,
    title={"en": "Cancellation spike", "zh-CN": "取消率激增"},
    settings=CancelSpikeSettings,
    reads=("rules_cancel_lines", *GAP_READS),
    evaluate=evaluate,
    doc=__doc__ or "",
)
