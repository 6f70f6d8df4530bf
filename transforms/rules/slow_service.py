"""slow_service: in an hour with enough chats, the share answered within 30 seconds is really
below its target (a binomial test, volume-aware like conversion_drop), or unanswered chats
pile up. During a promotion the missed chats are priced as lost buyers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from pydantic import Field

from transforms.rules.base import Candidate, Context, Rule, RuleSettings, utc
from transforms.rules.words import is_zh, num, pct
from transforms.service import ANSWER_SECONDS, first_response_seconds
from transforms.stats import distributions

__all__ = ["ALERTNAME", "RULE", "SlowServiceSettings", "slow_service"]

ALERTNAME = "slow_service"
Row = Mapping[str, Any]


class SlowServiceSettings(RuleSettings):
    """`rules.slow_service`: the answer-within-30 s target and how sure a miss must be."""

    target: float = Field(
        default=0.8, gt=0, lt=1, description="share of chats to answer within 30 seconds"
    )
    min_chats: int = Field(default=20, ge=1, description="least chats in the hour to judge")
    max_unanswered: int = Field(
        default=10, ge=1, description="unanswered chats at the hour's end that alert on their own"
    )
    alpha: float = Field(
        default=0.01, gt=0, lt=0.5, description="binomial tail under which a low share is real"
    )
    chat_buyer_rate: float = Field(
        default=0.25,
        ge=0,
        le=1,
        description="share of missed chats that would have bought (prices them in a promotion)",
    )


def slow_service(
    chats: pl.DataFrame,
    as_of: datetime,
    *,
    target: float,
    min_chats: int,
    max_unanswered: int,
    alpha: float,
) -> dict[str, Any] | None:
    """The hour's service measures when they break the rule, else None.

    `chats` are the hour's chats as known at `as_of` (first response null when none came
    before it); a chat counts once 30 s have passed since it started."""
    due = chats.filter(pl.col("started_at") <= as_of - timedelta(seconds=ANSWER_SECONDS))
    wait = first_response_seconds()
    row = due.select(
        chats=pl.len(),
        answered_30s=(wait <= ANSWER_SECONDS).sum(),
        unanswered=pl.col("first_response_at").is_null().sum(),
        agent_median=wait.filter(pl.col("responder") != "bot").median(),
    ).row(0, named=True)
    n, hit = int(row["chats"]), int(row["answered_30s"] or 0)
    if n < min_chats:
        return None
    share = hit / n
    p_value = float(distributions().binom.cdf(hit, n, target))
    slow = share < target and p_value < alpha
    piled = int(row["unanswered"] or 0) >= max_unanswered
    if not (slow or piled):
        return None
    return {
        **row,
        "answered_30s": hit,
        "share": share,
        "p_value": p_value,
        "target": target,
        "missed": n - hit,
    }


def evaluate(ctx: Context) -> list[Candidate]:
    """The evaluated hour's chats against the target."""
    settings: SlowServiceSettings = ctx.rules.of(ALERTNAME)
    h = ctx.hour
    chats = utc(
        ctx.read("rules_service_chats", {"start": h.start, "end": h.end, "as_of": h.end}),
        "started_at",
        "first_response_at",
    )
    found = slow_service(
        chats,
        h.end,
        target=settings.target,
        min_chats=settings.min_chats,
        max_unanswered=settings.max_unanswered,
        alpha=settings.alpha,
    )
    if found is None:
        return []
    running = ctx.running_promotions()
    lost_gmv = 0.0
    if running.height:
        shop = ctx.shared.current["shop"]
        aov = shop.get_column("aov")[0] if shop.height else None
        lost_gmv = found["missed"] * settings.chat_buyer_rate * float(aov or 0.0)
    return [_candidate(found, lost_gmv, bool(running.height), locale=ctx.locale)]


def _candidate(row: Row, lost_gmv: float, in_promo: bool, *, locale: str = "en") -> Candidate:
    """slow_service for the shop, with the missed chats priced during a promotion."""
    median = row["agent_median"]
    if is_zh(locale):
        summary = (
            f"客服 30 秒应答率 {pct(row['share'])}，低于目标 {pct(row['target'])}"
            f"（{row['chats']} 个咨询，{row['unanswered']} 个未回复）"
        )
        description = (
            f"本时段 {row['chats']} 个咨询中 {row['answered_30s']} 个在 30 秒内得到回复；"
            f"人工首次响应中位数 {num(median, 3)} 秒。"
        )
        if in_promo:
            description += f"活动期间，错过的咨询估计损失 {lost_gmv:.0f} 元成交。"
        action = "增派客服或调整分流；检查机器人自动回复是否正常。"
    else:
        summary = (
            f"{pct(row['share'])} of chats answered within 30 s, under the"
            f" {pct(row['target'])} target ({row['chats']} chats, {row['unanswered']} unanswered)"
        )
        description = (
            f"{row['answered_30s']} of the hour's {row['chats']} chats got a reply within 30 s;"
            f" agents' median first response {num(median, 3)} s."
        )
        if in_promo:
            description += (
                f" During the promotion the missed chats cost an estimated {lost_gmv:.0f} GMV."
            )
        action = "Put more agents on chat or re-route the queue; check the bot's auto-reply."
    annotations = {
        "summary": summary,
        "description": description,
        "value": num(row["share"]),
        "baseline": num(row["target"]),
        "unit": "ratio",
        "metric": "answered_30s_share",
        "action": action,
        "p_value": num(row["p_value"], 3),
        "unanswered": str(row["unanswered"]),
        "gmv_lost": f"{lost_gmv:.2f}",
    }
    severity = "critical" if in_promo or row["share"] < row["target"] - 0.2 else "warning"
    return Candidate(ALERTNAME, severity, {}, annotations, impact=lost_gmv)


RULE = Rule(
    alertname=ALERTNAME,
    title={"en": "Slow customer service", "zh-CN": "客服响应慢"},
    settings=SlowServiceSettings,
    reads=("rules_service_chats",),
    evaluate=evaluate,
    doc=__doc__ or "",
)
