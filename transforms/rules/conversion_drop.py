"""conversion_drop: conversion in this hour, for the shop, each traffic source and (when
`off_promotion` is on) while a promotion runs the SKUs outside it (`transforms.off_promotion`),
is really below its usual level. The statistics live in `transforms.conversion`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import polars as pl
from pydantic import Field

from transforms.cancellations import local_days_back
from transforms.conversion import (
    PROMO_STATE,
    conversion_drop,
    conversion_scores,
    sku_breakdown,
    source_breakdown,
)
from transforms.gaps import GAP_READS, known_gaps, without_gaps
from transforms.off_promotion import OFF_PROMOTION, SCOPE_LABEL, promoted_skus
from transforms.rules.base import Candidate, Context, Hour, Rule, RuleSettings, utc
from transforms.rules.words import is_zh, num, pct
from transforms.time import HOUR

__all__ = ["ALERTNAME", "RULE", "ConversionDropSettings"]

ALERTNAME = "conversion_drop"
Row = Mapping[str, Any]


class ConversionDropSettings(RuleSettings):
    """`rules.conversion_drop`: how large, how certain and at what volume a drop alerts."""

    min_drop: float = Field(
        default=0.25, gt=0, lt=1, description="smallest relative drop that alerts"
    )
    min_visitors: int = Field(
        default=100, ge=0, description="least visitors in the window for a scope to be judged"
    )
    baseline_days: int = Field(
        default=14, ge=2, le=60, description="days of the same local hour the baseline reads"
    )
    alpha: float = Field(
        default=0.001,
        gt=0,
        lt=0.5,
        description="false-alert budget per scope and hour (one-sided test)",
    )
    off_promotion: bool = Field(
        default=False,
        description="while promotions run, also judge the SKUs outside them against days"
        " without a promotion (scope off_promotion)",
    )


def _hourly(ctx: Context, settings: ConversionDropSettings) -> pl.DataFrame:
    """The baseline days' KPI rows (shop and sources) followed by the evaluated hour's."""
    h = ctx.hour
    history = utc(
        ctx.read(
            "rules_kpi_history",
            {
                "start": h.start - timedelta(days=settings.baseline_days + 1),
                "end": h.start,
                "as_of": h.end,
            },
        ),
        "hour",
    )
    columns = ["hour", "source", "visitors", "buyers", "gmv", "in_promo", PROMO_STATE]
    current = ctx.shared.current
    now = pl.concat(
        [
            current["shop"].with_columns(source=pl.lit(None, dtype=pl.String)).select(columns),
            current["source"].select(columns),
        ]
    )
    return pl.concat([history.select(columns), now.select(columns)], how="vertical_relaxed")


def _off_promotion_hourly(
    ctx: Context, settings: ConversionDropSettings, promoted: list[str]
) -> pl.DataFrame:
    """The baseline days' and the evaluated hour's rows of the SKUs outside the running
    promotions (`promoted` holds their SKUs), in the states of the other promotions."""
    h = ctx.hour
    return utc(
        ctx.read(
            "rules_off_promotion_history",
            {
                "start": h.start - timedelta(days=settings.baseline_days + 1),
                "end": h.end,
                "as_of": h.end,
                "skus": promoted,
                "promo_ids": ctx.running_promotions().get_column("promo_id").to_list(),
            },
        ),
        "hour",
    )


def _sku_causes(
    ctx: Context, h: Hour, row: Row, baseline_days: int, leave_out: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """The SKUs that account for most of a drop's missing buyers, in the drop's scope (the
    SKUs in `leave_out` are not in it)."""
    run = int(row["run_hours"])
    window = [h.start - HOUR * i for i in range(run)]
    baseline = [local_days_back(w, d, h.tz) for w in window for d in range(1, baseline_days + 1)]
    wanted = window + baseline
    rows = utc(
        ctx.read("rules_sku_source_hours", {"hours": wanted, "start": min(wanted), "end": h.end}),
        "hour",
    )
    if leave_out:
        rows = rows.filter(~pl.col("sku_id").is_in(pl.Series(list(leave_out)).implode()))
    return sku_breakdown(
        rows, pl.Series(window).cast(pl.Datetime("us", "UTC")), row["source"]
    ).to_dicts()


def evaluate(ctx: Context) -> list[Candidate]:
    """Drops in the evaluated hour's windows, each with its root cause by source and SKU."""
    settings: ConversionDropSettings = ctx.rules.of(ALERTNAME)
    h = ctx.hour
    # hours whose orders or traffic are missing stay out of every window and baseline
    gaps = known_gaps(ctx.read, h.start - timedelta(days=settings.baseline_days + 1), h.end, h.tz)
    scores, found = _drops(ctx, settings, without_gaps(_hourly(ctx, settings), gaps))
    out = []
    for row in found.to_dicts():
        width = min(int(row["run_hours"]), max(scores.get_column("window_hours")))
        sources = (
            source_breakdown(scores, h.start, width).to_dicts() if row["source"] is None else []
        )
        skus = _sku_causes(ctx, h, row, settings.baseline_days)
        out.append(_candidate(row, sources=sources, skus=skus, locale=ctx.locale))
    return out + _off_promotion_candidates(ctx, settings, gaps, scores)


def _drops(
    ctx: Context, settings: ConversionDropSettings, hourly: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The evaluated hour's window scores of `hourly` and the drops among them."""
    scores = conversion_scores(
        hourly,
        pl.Series("hour", [ctx.hour.start], dtype=pl.Datetime("us", "UTC")),
        ctx.hour.tz,
        baseline_days=settings.baseline_days,
        min_drop=settings.min_drop,
    )
    found = conversion_drop(
        scores,
        min_drop=settings.min_drop,
        min_visitors=settings.min_visitors,
        alpha=settings.alpha,
    )
    return scores, found


def _off_promotion_candidates(
    ctx: Context, settings: ConversionDropSettings, gaps: pl.Series, scores: pl.DataFrame
) -> list[Candidate]:
    """A drop of the SKUs outside the running promotions, judged against days without a
    promotion and with no uplift to allow for (`scores`: the shop's and sources' scores,
    for the breakdown by source)."""
    if not settings.off_promotion:
        return []
    promoted = promoted_skus(ctx.running_promotions(), ctx.shared.items)
    if promoted is None:
        return []
    h = ctx.hour
    hourly = without_gaps(_off_promotion_hourly(ctx, settings, promoted), gaps)
    off_scores, found = _drops(ctx, settings, hourly)
    out = []
    for row in found.to_dicts():
        width = min(int(row["run_hours"]), max(off_scores.get_column("window_hours")))
        # by source: each source's shortfall against its own baseline (all its SKUs)
        sources = source_breakdown(scores, h.start, width).to_dicts()
        skus = _sku_causes(ctx, h, row, settings.baseline_days, leave_out=promoted)
        out.append(
            _candidate(row, sources=sources, skus=skus, locale=ctx.locale, scope=OFF_PROMOTION)
        )
    return out


def _candidate(
    row: Row,
    *,
    sources: Sequence[Row] = (),
    skus: Sequence[Row] = (),
    locale: str = "en",
    scope: str | None = None,
) -> Candidate:
    """conversion_drop for one scope; `sources`/`skus`: the root cause, largest first
    (each with `source` or `sku_id`, `missing_buyers`, `share`). `scope` OFF_PROMOTION: the
    shop's SKUs outside the running promotions, against days without a promotion."""
    source = row["source"]
    labels = {"source": source} if source else {}
    off = scope == OFF_PROMOTION
    if off:
        labels[SCOPE_LABEL] = OFF_PROMOTION
    drop, window = row["drop"], row["window_hours"]
    if is_zh(locale):
        where = "未参加活动的商品" if off else (f"来源 {source} " if source else "全店")
        days = "个无活动日" if off else "天"
    else:
        where = (
            "the SKUs outside the running promotions"
            if off
            else (f"source {source}" if source else "shop")
        )
        days = " days without a promotion" if off else " days"
    if is_zh(locale):
        summary = f"{where}支付转化率下降 {pct(drop)}（近 {window} 小时）"
        description = (
            f"支付转化率 {pct(row['window_rate'])}，基线 {pct(row['window_baseline_rate'])}"
            f"（前 {row['baseline_hours']} {days}同一时段）；"
            f"约少了 {row['missing_buyers']:.0f} 位买家，"
            f"p={row['p_value']:.1e}。"
        )
        action = "检查该来源的落地页、价格、库存和支付链路；确认投放与搜索排名是否变化。"
        cause_lines = [
            f"来源 {s['source']}：少 {s['missing_buyers']:.0f} 位买家（{pct(s['share'])}）"
            for s in sources[:3]
        ] + [
            f"商品 {s['sku_id']}：少 {s['missing_buyers']:.0f} 位买家（{pct(s['share'])}）"
            for s in skus[:3]
        ]
    else:
        summary = f"Conversion down {pct(drop)} in {where} over the last {window} h"
        description = (
            f"Conversion {pct(row['window_rate'])} against a baseline of"
            f" {pct(row['window_baseline_rate'])} (same hour, {row['baseline_hours']} previous"
            f"{days}); about {row['missing_buyers']:.0f} buyers missing,"
            f" p={row['p_value']:.1e}."
        )
        action = (
            "Check landing pages, prices, stock and checkout for this traffic; compare ad"
            " delivery and search ranking with yesterday."
        )
        cause_lines = [
            f"source {s['source']}: {s['missing_buyers']:.0f} buyers missing ({pct(s['share'])})"
            for s in sources[:3]
        ] + [
            f"SKU {s['sku_id']}: {s['missing_buyers']:.0f} buyers missing ({pct(s['share'])})"
            for s in skus[:3]
        ]
    annotations = {
        "summary": summary,
        "description": description,
        "value": num(row["conversion_rate"]),
        "baseline": num(row["baseline_rate"]),
        "unit": "ratio",
        "metric": "conversion_rate",
        "action": action,
        "root_cause": "\n".join(cause_lines),
        "drop": num(drop, 4),
        "window_hours": str(window),
        "p_value": num(row["p_value"], 3),
        "missing_buyers": num(row["missing_buyers"], 4),
        "gmv_lost": num(row["gmv_lost"], 8),
    }
    if sources:
        annotations["top_source"] = str(sources[0]["source"])
    severity = "critical" if drop >= 0.5 else "warning"
    return Candidate(ALERTNAME, severity, labels, annotations, impact=float(row["gmv_lost"]))


RULE = Rule(
    alertname=ALERTNAME,
    title={"en": "Conversion drop", "zh-CN": "支付转化率下降"},
    settings=ConversionDropSettings,
    reads=(
        "rules_kpi_history",
        "rules_off_promotion_history",
        "rules_sku_source_hours",
        *GAP_READS,
    ),
    evaluate=evaluate,
    doc=__doc__ or "",
)
