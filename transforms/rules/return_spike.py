"""return_spike: the returns of one reason (e.g. wrong address) in the last 24 hours are well
above that reason's daily baseline: the previous days' mean, tested as a negative binomial
whose variance is the baseline's day-to-day spread (quasi-Poisson), with `alpha` shared by the
reasons tested.

Spread: a reason's daily returns vary more than a Poisson count (orders, and so returns, move
with the weekday and the promotions of a week before). Each reason's variance over mean across
the baseline days is its dispersion; the rule uses the median over the reasons (at least 1),
so a few days of history still give a steady figure and one reason's own past spike does not
blind the others. Several reasons are tested every hour: each is judged against `alpha`
divided by the number of reasons tested (Bonferroni), so more reasons do not mean more false
alerts.

Cold start: the baseline counts only the days since the first return the warehouse holds
(of any reason, whole days, at most `baseline_days`), and no reason is judged until those
span `min_baseline_days`: a new warehouse, or returns that only start arriving days after
the first orders, must not read as a rise against days that had no data yet."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from pydantic import Field

from transforms.rules.base import Candidate, Context, Rule, RuleSettings, utc
from transforms.rules.words import is_zh, num
from transforms.stats import distributions

__all__ = ["ALERTNAME", "RULE", "ReturnSpikeSettings", "return_spike"]

ALERTNAME = "return_spike"
Row = Mapping[str, Any]
WINDOW = timedelta(hours=24)
# a reason never seen in the baseline still has this many returns a day expected
FLOOR_PER_DAY = 0.5
CRITICAL_RATIO = 6.0
_DAY_US = 86_400_000_000


class ReturnSpikeSettings(RuleSettings):
    """`rules.return_spike`: baseline days, and how many, how far above and how sure."""

    baseline_days: int = Field(
        default=14, ge=2, le=90, description="days before the last 24 h that make the baseline"
    )
    min_returns: int = Field(
        default=10, ge=1, description="least returns of one reason in 24 h to alert"
    )
    min_ratio: float = Field(
        default=3.0, gt=1, description="returns must reach this multiple of the daily baseline"
    )
    # the rule looks again every hour at a 24 h window that has moved by one hour: a day holds
    # several nearly fresh looks per reason, so the tail is stricter than a once-a-day test's
    alpha: float = Field(
        default=0.0001,
        gt=0,
        lt=0.5,
        description="tail (negative binomial, spread from the baseline days) under which a rise"
        " is real, shared by the reasons tested",
    )
    min_baseline_days: int = Field(
        default=7,
        ge=1,
        le=90,
        description="days of returns history, before the last 24 h, needed to judge at all",
    )


def return_spike(
    returns: pl.DataFrame,
    as_of: datetime,
    *,
    baseline_days: int,
    min_returns: int,
    min_ratio: float,
    alpha: float,
    min_baseline_days: int,
) -> pl.DataFrame:
    """Reasons whose returns in the 24 h before `as_of` break their baseline: the mean per
    day over the `baseline_days` before that, or over the whole days since the first return
    when the history is shorter; nothing while that is under `min_baseline_days`; tested
    against `alpha` / reasons with the baselines' median dispersion (module docstring)."""
    start = as_of - WINDOW
    days = _history_days(returns, start, baseline_days)
    n = max(days, 1)
    counted = (
        returns.with_columns(
            day=(pl.lit(start) - pl.col("returned_at")).dt.total_microseconds() // _DAY_US
        )
        .filter(pl.col("day") < n)
        .group_by("reason", "day")
        .agg(count=pl.len())
        .group_by("reason")
        .agg(
            returns=pl.col("count").filter(pl.col("day") < 0).sum(),
            baseline_returns=pl.col("count").filter(pl.col("day") >= 0).sum(),
            squares=(pl.col("count") ** 2).filter(pl.col("day") >= 0).sum(),
        )
        .with_columns(
            baseline=pl.max_horizontal(pl.col("baseline_returns") / n, pl.lit(FLOOR_PER_DAY)),
            baseline_days=pl.lit(days, dtype=pl.Int64),
            # Pearson chi-square over degrees of freedom of the reason's daily counts
            spread=pl.when((pl.col("baseline_returns") > 0) & pl.lit(n >= 2)).then(
                (n * pl.col("squares") / pl.col("baseline_returns") - pl.col("baseline_returns"))
                / (n - 1)
            ),
        )
    )
    median = counted.get_column("spread").median()
    phi = max(1.0, float(median)) if isinstance(median, (int, float)) else 1.0
    x = counted.get_column("returns").cast(pl.Int64).to_numpy() - 1
    mean = counted.get_column("baseline").to_numpy()
    stats = distributions()
    if phi > 1.0:
        # NB with mean m and variance phi m: r = m / (phi - 1) successes, success odds 1 / phi
        p = stats.nbinom.sf(x, mean / (phi - 1.0), 1.0 / phi)
    else:
        p = stats.poisson.sf(x, mean)
    tests = max(counted.height, 1)
    return (
        counted.with_columns(
            p_value=pl.Series(p, dtype=pl.Float64),
            dispersion=pl.lit(phi),
            reasons_tested=pl.lit(tests, dtype=pl.Int64),
        )
        .with_columns(ratio=pl.col("returns") / pl.col("baseline"))
        .filter(
            pl.lit(days >= min_baseline_days)
            & (pl.col("returns") >= min_returns)
            & (pl.col("ratio") >= min_ratio)
            & (pl.col("p_value") < alpha / tests)
        )
        .drop("squares", "spread")
        .sort("reason")
    )


def _history_days(returns: pl.DataFrame, start: datetime, baseline_days: int) -> int:
    """Whole days of returns history before `start`: from the first return held (any
    reason), at most `baseline_days`."""
    first = returns.filter(pl.col("returned_at") < start).get_column("returned_at").min()
    if first is None:
        return 0
    span = (start - first) / timedelta(days=1)  # type: ignore[operator]
    return min(baseline_days, math.ceil(span))


def evaluate(ctx: Context) -> list[Candidate]:
    """Returns per reason in the last 24 h against the baseline days."""
    settings: ReturnSpikeSettings = ctx.rules.of(ALERTNAME)
    h = ctx.hour
    returns = utc(
        ctx.read(
            "rules_returns",
            {
                "start": h.end - WINDOW - timedelta(days=settings.baseline_days),
                "end": h.end,
            },
        ),
        "returned_at",
    )
    found = return_spike(
        returns,
        h.end,
        baseline_days=settings.baseline_days,
        min_returns=settings.min_returns,
        min_ratio=settings.min_ratio,
        alpha=settings.alpha,
        min_baseline_days=settings.min_baseline_days,
    )
    return [_candidate(row, row["baseline_days"], locale=ctx.locale) for row in found.to_dicts()]


_REASONS = {
    "wrong_address": ("wrong address", "地址错误"),
    "size_fit": ("size or fit", "尺码不合适"),
    "quality": ("quality", "质量问题"),
    "not_as_described": ("not as described", "与描述不符"),
    "damaged": ("damaged in transit", "运输损坏"),
}


def _candidate(row: Row, days: int, *, locale: str = "en") -> Candidate:
    """return_spike for one reason."""
    reason = str(row["reason"])
    en, zh = _REASONS.get(reason, (reason, reason))
    if is_zh(locale):
        summary = f"退货激增：{zh} 24 小时 {row['returns']} 单，为基线的 {row['ratio']:.1f} 倍"
        description = f"前 {days} 天平均每天 {row['baseline']:.1f} 单。"
        action = "按原因排查：地址错误查订单导入和地址校验，质量问题查批次。"
    else:
        summary = f"Returns for {en}: {row['returns']} in 24 h, {row['ratio']:.1f}x the baseline"
        description = f"{row['baseline']:.1f} a day on average over the previous {days} days."
        action = (
            "Look at what the returns share: for wrong addresses the order import and address"
            " check, for quality the batch."
        )
    annotations = {
        "summary": summary,
        "description": description,
        "value": str(row["returns"]),
        "baseline": num(row["baseline"], 3),
        "unit": "returns",
        "action": action,
        "p_value": num(row["p_value"], 3),
    }
    severity = "critical" if row["ratio"] >= CRITICAL_RATIO else "warning"
    return Candidate(ALERTNAME, severity, {"reason": reason}, annotations)


RULE = Rule(
    alertname=ALERTNAME,
    title={"en": "Return spike", "zh-CN": "退货激增"},
    settings=ReturnSpikeSettings,
    reads=("rules_returns",),
    evaluate=evaluate,
    doc=__doc__ or "",
)
